import { Platform } from "./harness.mjs";
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const START = Date.UTC(2025, 0, 1);
const r = random(11);
const COUNTRIES = ["France", "Germany", "Spain", "Italy"];
const PRODUCTS = Array.from({ length: 20 }, (_, k) => `${"ABCD"[k % 4]}${String(k).padStart(2, "0")}`);
let csv = "Date,Country,Product,Quantity,Price,Customer\n";
const rows = [];
for (let i = 0; i < 2000; i++) {
  const t = START + Math.floor(r() * 60 * 86400) * 1000;
  const row = { Date: new Date(t).toISOString().replace(".000Z", "Z"), Country: COUNTRIES[Math.floor(r() * 4)], Product: PRODUCTS[Math.floor(r() * 20)], Quantity: 1 + Math.floor(r() * 10), Price: (1 + Math.floor(r() * 80)) / 4, Customer: `C${100 + Math.floor(r() * 150)}` };
  rows.push(row);
  csv += `${row.Date},${row.Country},${row.Product},${row.Quantity},${row.Price},${row.Customer}\n`;
}
const p = await Platform.start();
const show = (x) => console.log(JSON.stringify(x).slice(0, 3000));
try {
  show(await p.api("POST", "/api/v1/datasets", { name: "sales" }));
  show(await p.api("POST", "/api/v1/datasets/sales/versions", csv, undefined, { "Content-Type": "text/csv" }));
  for (;;) { const v = await p.api("GET", "/api/v1/datasets/sales/versions/1"); if (v.body.status !== "building") { show(v.body.schema); break; } await new Promise((r) => setTimeout(r, 200)); }
  const cube = { name: "sales", description: "d", source: { dataset: "sales", version: "latest" },
    dimensions: [ { name: "country", column: "Country", hierarchy: [{ name: "region", column: "Country", map: { France: "West", Spain: "West" }, default: "East" }] },
      { name: "time", column: "Date", type: "time" },
      { name: "product", column: "Product", hierarchy: [{ name: "family", column: "Product", prefix: 1 }] } ],
    measures: [ { name: "revenue", expr: "Quantity * Price", agg: "sum" }, { name: "lines", agg: "count" }, { name: "customers", column: "Customer", agg: "count_distinct" }, { name: "revenue_per_line", formula: "revenue / lines" } ],
    pre_aggregations: [{ name: "by_country_day", dimensions: ["country", "time.day"] }] };
  show(await p.api("POST", "/api/v1/cubes", cube));
  for (;;) { const c = await p.api("GET", "/api/v1/cubes/sales"); if (c.body.state !== "building") { show(c.body); break; } await new Promise((r) => setTimeout(r, 200)); }
  const q = async (body) => show(await p.api("POST", "/api/v1/cubes/sales/query", body));
  await q({ measures: ["revenue"], dimensions: ["country"] });
  await q({ measures: ["revenue", "revenue_per_line"], dimensions: ["country", "time.month"], totals: "rollup" });
  await q({ measures: ["revenue"], dimensions: ["country", "time.month"], pivot: ["time.month"] });
  await q({ measures: ["revenue"], dimensions: ["time.month"], compare: { to: "previous_period" } });
  await q({ measures: ["revenue"], dimensions: ["country.region"], totals: "cube" });
  show(await p.api("POST", "/api/v1/cubes/sales/drill", { query: { measures: ["revenue"], dimensions: ["country", "time.month"] }, level: "time.month", value: "2025-01", direction: "down" }));
  show(await p.api("POST", "/api/v1/cubes/sales/drill", { query: { measures: ["revenue"], dimensions: ["country", "time.week"], filters: [{ dimension: "time.month", op: "eq", values: ["2025-01"] }] }, level: "time.week", direction: "up" }));
  show(await p.api("POST", "/api/v1/cubes/sales/drill", { query: { measures: ["revenue"], dimensions: ["country.region"] }, level: "country.region", value: "West", direction: "down" }));
  show(await p.api("GET", "/api/v1/cubes/sales/members?level=country&q=fr"));
  show(await p.api("GET", "/api/v1/cubes/sales/members?level=time.month"));
  show(await p.api("POST", "/api/v1/cubes/sql", { sql: "SELECT country, SUM(revenue) FROM sales GROUP BY country ORDER BY revenue DESC LIMIT 10" }));
  show(await p.api("POST", "/api/v1/cubes/sales/anomalies", { measure: "revenue", level: "time.day" }));
  show(await p.api("POST", "/api/v1/cubes/sales/explain", { measure: "revenue", level: "time.month", from: "2025-01", to: "2025-02", dimensions: ["country", "product"] }));
  show(await p.api("GET", "/api/v1/cubes/sales/pre-aggregations/proposals"));
  show(await p.api("POST", "/api/v1/cubes/sales/views", { name: "v1", query: { measures: ["revenue"], dimensions: ["country"] }, chart: "bars" }));
  show(await p.api("GET", "/api/v1/cubes/sales/views"));
  show(await p.api("POST", "/api/v1/cubes/sales/query", { measures: ["revenue"], dimensions: ["time.month"], filters: [{ dimension: "time", op: "between", values: ["2025-01-01", "2025-01-31"] }, { measure: "revenue", op: "gt", value: 10 }], top: { n: 2, by: "revenue", per: [] } }));
} finally { await p.stop(); }
