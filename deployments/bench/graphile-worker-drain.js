// Drains N no-op jobs with graphile-worker, as a yardstick for `purser bench queue`.
// Usage: node graphile-worker-drain.js CONNECTION_STRING TASKS
// Prints one JSON line: enqueue and drain rates. Settings follow graphile-worker's batching
// advice: 24 concurrent jobs, a local queue of 500, completion batching with no delay.
"use strict";
const { Logger, run, runMigrations } = require("graphile-worker");
const { Pool } = require("pg");

async function main() {
  const [connectionString, tasksArg] = process.argv.slice(2);
  const tasks = Number(tasksArg);
  if (!connectionString || !Number.isInteger(tasks) || tasks < 1) {
    throw new Error("usage: graphile-worker-drain.js CONNECTION_STRING TASKS");
  }
  // Quiet: a line per job on stdout would slow it down and hide the result.
  const logger = new Logger(() => () => {});
  const preset = {
    worker: {
      connectionString,
      concurrentJobs: 24,
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
      pollInterval: 1000,
      maxPoolSize: 25,
    },
  };
  await runMigrations({ preset, logger });
  const pool = new Pool({ connectionString });

  const enqueueStart = process.hrtime.bigint();
  for (let done = 0; done < tasks; done += 1000) {
    const batch = Math.min(1000, tasks - done);
    await pool.query("select graphile_worker.add_job('noop', '{}'::json) from generate_series(1, $1)", [batch]);
  }
  const enqueueSeconds = Number(process.hrtime.bigint() - enqueueStart) / 1e9;

  let ran = 0;
  let allRan;
  const everyJobRan = new Promise((resolve) => (allRan = resolve));
  const drainStart = process.hrtime.bigint();
  const runner = await run({
    preset,
    logger,
    noHandleSignals: true,
    taskList: {
      noop: async () => {
        ran += 1;
        if (ran === tasks) allRan();
      },
    },
  });
  await everyJobRan;
  // Done means recorded: graphile-worker deletes a job once its completion is written.
  for (;;) {
    const { rows } = await pool.query("select count(*)::int as left from graphile_worker.jobs");
    if (rows[0].left === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const drainSeconds = Number(process.hrtime.bigint() - drainStart) / 1e9;
  await runner.stop();
  await pool.end();
  console.log(JSON.stringify({
    tasks,
    enqueue_per_second: tasks / enqueueSeconds,
    drain_per_second: tasks / drainSeconds,
    drain_seconds: drainSeconds,
  }));
}

main().catch((error) => {
  console.error(`error: ${error.message}`);
  process.exit(1);
});
