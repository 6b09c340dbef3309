// What the DuckDB sides of the benchmarks share: DuckDB in process (@duckdb/node-api from
// bench/duckdb's lock; its own binary) in memory with SET threads=2, and the timing of queries:
// each once to warm up (its rows are the answer), then `repeat` times timed, the run and reading
// every row into JS, with the process's user + system CPU (all threads).
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(new URL('./duckdb/package.json', import.meta.url));
const { DuckDBInstance, version } = require('@duckdb/node-api');

export async function openDuckDB() {
  const instance = await DuckDBInstance.create(':memory:');
  const con = await instance.connect();
  await con.run('SET threads=2');
  return { con, version: version() };
}

export async function timeQueries(con, queries, repeat) {
  const out = [];
  for (const q of queries) {
    const rows = (await con.runAndReadAll(q.sql)).getRowsJson();
    const ms = [];
    const cpu = [];
    for (let i = 0; i < repeat; i++) {
      const c = process.cpuUsage();
      const t = performance.now();
      const r = await con.runAndReadAll(q.sql);
      r.getRows();
      ms.push(performance.now() - t);
      const d = process.cpuUsage(c);
      cpu.push((d.user + d.system) / 1000);
    }
    out.push({ name: q.name, ms, cpu_ms: cpu, rows });
  }
  return out;
}
