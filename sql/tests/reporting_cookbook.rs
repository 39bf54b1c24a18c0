//! Every query in docs/reporting.md runs against the demo centre (`purser seed demo`), whose
//! people, projects and accounts it names, and answers something.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use purser_sql::test_harness::TestDatabase;

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
async fn every_cookbook_query_runs_against_the_demo_centre() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    purser_sql::seed::demo_centre(&client).await.unwrap();
    // expanse's daemon has registered its script connector and observed nothing yet, so
    // report.drift has the site's whole plan.
    client
        .batch_execute("SELECT provision.register_connector('expanse', 'script');")
        .await
        .unwrap();
    // A morning's activity, by the people and on the accounts the cookbook names: Alan goes
    // over his 5,000 SU cap on che260001, Ada's course on delta spends 92% of bio7, Ada asks
    // for more, an admin tops che260001 up, CHE260001 is suspended and resumed, and a task
    // waits too long.
    client
        .batch_execute(
            "WITH alan AS (SELECT id FROM registry.person WHERE email = 'alan@esu.example'),
                  che AS (SELECT id, cluster_id FROM registry.allocation WHERE account_name = 'che260001'),
                  cpu AS (SELECT r.id FROM registry.resource r JOIN che ON r.cluster_id = che.cluster_id WHERE r.name = 'CPU')
             SELECT registry.charge_usage(che.cluster_id, '1', now() - interval '2 days', now() - interval '1 day',
                                          cpu.id, che.id, alan.id, 6000)
             FROM alan, che, cpu;
             SELECT registry.charge_usage(a.cluster_id, '2', now() - interval '2 days', now() - interval '1 day',
                                          r.id, a.id, p.id, 9200)
             FROM registry.allocation a
             JOIN registry.resource r ON r.cluster_id = a.cluster_id AND r.name = 'CPU'
             JOIN registry.person p ON p.email = 'ada@esu.example'
             WHERE a.account_name = 'bio7';
             SELECT registry.apply_diff(id, 'supplement', 'startup', su_delta => 100)
             FROM registry.allocation WHERE account_name = 'che260001';
             SELECT registry.submit_change_request(a.id, p.id, 'supplement', 'more runs', requested_su => 50)
             FROM registry.allocation a, registry.person p
             WHERE a.account_name = 'che260001' AND p.email = 'ada@esu.example';
             UPDATE registry.project SET status = 'suspended' WHERE originated_id = 'CHE260001';
             UPDATE registry.project SET status = 'active' WHERE originated_id = 'CHE260001';
             SELECT queue.enqueue(site => 'expanse', kind => 'allocation.sync', run_at => now() - interval '2 hours');",
        )
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
        // The demo centre has an answer to every question but those that expect none.
        let expects_none = heading.contains("Expected: no rows");
        assert_eq!(
            rows.is_empty(),
            expects_none,
            "{heading}: {} rows",
            rows.len()
        );
    }
}
