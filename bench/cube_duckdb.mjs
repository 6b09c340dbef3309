// bench/cube.sh's DuckDB side: DuckDB in process (@duckdb/node-api, bench/duckdb's lock; its own
// binary), SET threads=2, an in-memory table loaded from the same gzip CSV with explicit types,
// then each query once to warm up and REPEAT times timed (the run and reading every row into JS).
//   node bench/cube_duckdb.mjs DATA.csv.gz QUERIES.json    (QUERIES: [{name, sql}]; REPEAT=5)
// Prints one JSON object on stdout: {version, load_ms, rows, queries: [{name, ms: [...], cpu_ms: [...], rows}]}.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { openDuckDB, timeQueries } from './duckdb_bench.mjs';

const [csvPath, queriesPath] = process.argv.slice(2);
const repeat = Number(process.env.REPEAT || 5);
const queries = JSON.parse(readFileSync(queriesPath, 'utf8'));

const { con, version } = await openDuckDB();
const quoted = csvPath.replaceAll("'", "''");
const t = performance.now();
await con.run(`CREATE TABLE retail AS
  SELECT InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
         CAST(CustomerID AS BIGINT) AS CustomerID, Country
  FROM read_csv('${quoted}', header = true, compression = 'gzip', auto_detect = false,
    quote = '"', escape = '"', timestampformat = '%Y-%m-%d %H:%M:%S',
    columns = {'InvoiceNo': 'VARCHAR', 'StockCode': 'VARCHAR', 'Description': 'VARCHAR',
               'Quantity': 'BIGINT', 'InvoiceDate': 'TIMESTAMP', 'UnitPrice': 'DOUBLE',
               'CustomerID': 'DOUBLE', 'Country': 'VARCHAR'})`);
const loadMs = performance.now() - t;
const count = (await con.runAndReadAll('SELECT count(*) FROM retail')).getRowsJson()[0][0];

const out = await timeQueries(con, queries, repeat);
process.stdout.write(JSON.stringify({ version, load_ms: loadMs, rows: Number(count), queries: out }) + '\n');
