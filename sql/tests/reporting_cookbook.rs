//! Every query in docs/reporting.md runs, against a sample centre, and answers something.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use purser_sql::test_harness::TestDatabase;
use support::centre;

/// The ```sql blocks of docs/reporting.md, with the heading above each.
fn cookbook_queries() -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reporting.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut queries = Vec::new();
    let mut heading = String::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line) {
            (None, line) if line.starts_with("## ") => heading = line.to_string(),
            (None, "```sql") => block = Some(String::new()),
            (Some(sql), "```") => {
                queries.push((heading.clone(), std::mem::take(sql)));
                block = None;
            }
            (Some(sql), line) => {
                sql.push_str(line);
                sql.push('\n');
            }
            _ => {}
        }
    }
    queries
}

#[tokio::test]
async fn every_cookbook_query_runs_against_a_sample_centre() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO registry.membership (allocation_id, person_id, cap_su, starts_at) VALUES
                 ('{a}', '{pi}', NULL, '2026-01-01'), ('{a}', '{member}', 1, '2026-01-01');
             INSERT INTO registry.cluster_account (cluster_id, person_id, username, uid) VALUES
                 ('{c}', '{pi}', 'ada', 5001), ('{c}', '{member}', 'bo', 5002);
             SELECT registry.charge_usage('{c}', '1', now() - interval '2 days', now() - interval '1 day', '{cpu}', '{a}', '{member}', 120);
             SELECT registry.apply_diff('{a}', 'supplement', 'startup', su_delta => 100);
             SELECT registry.submit_change_request('{a}', '{pi}', 'supplement', 'more runs', requested_su => 50);
             UPDATE registry.project SET status = 'suspended';
             UPDATE registry.project SET status = 'active';
             SELECT queue.enqueue(site => 'expanse', kind => 'slurm.account.ensure', run_at => now() - interval '2 hours');
             WITH ending AS (
                 INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
                 SELECT project_id, cluster_id, 'che260001-short', 10, starts_at, now() + interval '10 days'
                 FROM registry.allocation WHERE id = '{a}' RETURNING id)
             SELECT registry.charge_usage('{c}', '2', now() - interval '2 days', now() - interval '1 day', '{cpu}', id, '{member}', 190)
             FROM ending;",
            a = centre.allocation,
            pi = centre.pi,
            member = centre.member,
            c = centre.cluster,
            cpu = centre.cpu
        ))
        .await
        .unwrap();
    let queries = cookbook_queries();
    assert!(
        queries.len() >= 10,
        "the cookbook has {} queries; it promises ten or more",
        queries.len()
    );
    for (heading, sql) in &queries {
        let rows = client
            .query(sql.as_str(), &[])
            .await
            .unwrap_or_else(|error| panic!("{heading}: {error}\n{sql}"));
        // The sample centre has an answer to every question but those that expect none.
        let expects_none = heading.contains("Expected: no rows");
        assert_eq!(
            rows.is_empty(),
            expects_none,
            "{heading}: {} rows",
            rows.len()
        );
    }
}
