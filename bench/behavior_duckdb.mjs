// bench/behavior.sh's DuckDB side: DuckDB in process (@duckdb/node-api, bench/duckdb's lock; its own
// binary), SET threads=2, an in-memory table `events` loaded from the same CSV (bench/behavior_data.py)
// with each event's person resolved as the guide merges identities ($identify: the anonymous id joins
// the person of the event's distinct id; one level here: every anonymous id is identified by one
// user and users are never aliased, which bench/behavior.py checks), then each query once to warm up
// and REPEAT times timed (the run and reading every row into JS).
//   node bench/behavior_duckdb.mjs EVENTS.csv QUERIES.json    (QUERIES: [{name, sql}]; REPEAT=5)
// Prints one JSON object on stdout: {version, load_ms, rows, persons, queries: [{name, ms: [...], cpu_ms: [...] (the
// process's user + system CPU, all threads), rows}]}.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { openDuckDB, timeQueries } from './duckdb_bench.mjs';

const [csvPath, queriesPath] = process.argv.slice(2);
const repeat = Number(process.env.REPEAT || 5);
const queries = JSON.parse(readFileSync(queriesPath, 'utf8'));

const { con, version } = await openDuckDB();
const quoted = csvPath.replaceAll("'", "''");
const t = performance.now();
await con.run(`CREATE TABLE raw AS
  SELECT * FROM read_csv('${quoted}', header = true, auto_detect = false, quote = '"',
    columns = {'id': 'BIGINT', 'ts': 'BIGINT', 'distinct_id': 'VARCHAR', 'event': 'VARCHAR', 'browser': 'VARCHAR',
               'pathname': 'VARCHAR', 'amount': 'DOUBLE', 'anon': 'VARCHAR'})`);
await con.run(`CREATE TABLE alias AS SELECT anon, min(distinct_id) AS usr FROM raw
  WHERE event = '$identify' AND anon IS NOT NULL AND anon <> distinct_id GROUP BY anon`);
await con.run(`CREATE TABLE persons AS SELECT d, CAST(row_number() OVER () AS INTEGER) AS person
  FROM (SELECT DISTINCT coalesce(a.usr, r.distinct_id) AS d FROM raw r LEFT JOIN alias a ON a.anon = r.distinct_id)`);
await con.run(`CREATE TABLE events AS
  SELECT r.id, r.ts, p.person, r.event, r.browser, r.pathname, r.amount
  FROM raw r LEFT JOIN alias a ON a.anon = r.distinct_id JOIN persons p ON p.d = coalesce(a.usr, r.distinct_id)`);
await con.run('DROP TABLE raw');
const loadMs = performance.now() - t;
const count = (await con.runAndReadAll('SELECT count(*) FROM events')).getRowsJson()[0][0];
const persons = (await con.runAndReadAll('SELECT count(*) FROM persons')).getRowsJson()[0][0];

const out = await timeQueries(con, queries, repeat);
process.stdout.write(JSON.stringify({ version, load_ms: loadMs, rows: Number(count), persons: Number(persons), queries: out }) + '\n');
