// Run soda-js, unchanged from the npm registry, against a Blotter portal.
// Usage: node soda_js_query.js HOST:PORT DATASET_ID
// Prints one JSON object: the rows of a where/order/limit query, a grouped count, a $query
// statement, and the error an unknown column gives.
const soda = require("soda-js");

const [site, dataset] = process.argv.slice(2);
const consumer = new soda.Consumer(site);

function run(query) {
  return new Promise((resolve) => {
    query
      .getRows()
      .on("success", (rows) => resolve({ ok: true, rows }))
      .on("error", (error) => resolve({ ok: false, error }));
  });
}

(async () => {
  const filtered = await run(
    consumer.query().withDataset(dataset)
      .where({ subject_race: "black" }).where("subject_age > 30")
      .order("case_number desc").limit(5),
  );
  const grouped = await run(
    consumer.query().withDataset(dataset)
      .select("subject_race", "count(*) as n").group("subject_race").order("subject_race"),
  );
  const statement = await run(
    consumer.query().withDataset(dataset)
      .soql("SELECT case_number WHERE injured = true ORDER BY :id LIMIT 3"),
  );
  const failed = await run(consumer.query().withDataset(dataset).where("no_such = 1"));
  process.stdout.write(JSON.stringify({ filtered, grouped, statement, failed }));
})();
