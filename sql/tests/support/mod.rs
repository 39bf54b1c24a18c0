//! A small centre for the registry's tests.

#![allow(dead_code)] // Each test file uses the parts it needs.

use std::str::FromStr;

use purser_sql::DbPool;
use purser_sql::site_role;
use purser_sql::test_harness::TestDatabase;
use rust_decimal::Decimal;
use uuid::Uuid;

/// A small centre: one cluster with a CPU resource at rate 10 from 2026-01-01 and 20 from
/// 2026-07-01, a project, an allocation of 1000 SUs open from 2026-01-01 until a year from now, and two people.
pub struct Centre {
    pub cluster: Uuid,
    pub cpu: Uuid,
    pub allocation: Uuid,
    pub pi: Uuid,
    pub member: Uuid,
}

pub async fn centre(database: &TestDatabase) -> Centre {
    let client = database.pool().connection().await.unwrap();
    let row = client
        .query_one(
            "WITH cluster AS (INSERT INTO registry.cluster (name) VALUES ('expanse') RETURNING id),
                  cpu AS (INSERT INTO registry.resource (cluster_id, name, resource_type, unit, slurm_tres)
                          SELECT id, 'CPU', 'cpu', 'core-hours', 'cpu' FROM cluster RETURNING id),
                  rates AS (INSERT INTO registry.resource_rate (resource_id, rate, valid_during)
                            SELECT id, 10, '[2026-01-01, 2026-07-01)'::tstzrange FROM cpu
                            UNION ALL SELECT id, 20, '[2026-07-01,)'::tstzrange FROM cpu RETURNING 1),
                  pi AS (INSERT INTO registry.person (name, email) VALUES ('Ada PI', 'ada@example.edu') RETURNING id),
                  member AS (INSERT INTO registry.person (name, email) VALUES ('Bo Member', 'bo@example.edu') RETURNING id),
                  project AS (INSERT INTO registry.project (title, pi_id, origination, originated_id)
                              SELECT 'Protein folding', id, 'ACCESS', 'CHE260001' FROM pi RETURNING id),
                  allocation AS (INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
                                 SELECT project.id, cluster.id, 'che260001', 1000, '2026-01-01', now() + interval '1 year'
                                 FROM project, cluster RETURNING id)
             SELECT (SELECT id FROM cluster), (SELECT id FROM cpu), (SELECT id FROM allocation),
                    (SELECT id FROM pi), (SELECT id FROM member), (SELECT count(*) FROM rates)",
            &[],
        )
        .await
        .unwrap();
    Centre {
        cluster: row.get(0),
        cpu: row.get(1),
        allocation: row.get(2),
        pi: row.get(3),
        member: row.get(4),
    }
}

pub fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// What PostgreSQL said of a refused statement: its message, or the driver's error when the
/// server sent none.
pub fn message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|db| db.message().to_string())
        .unwrap_or_else(|| error.to_string())
}

/// A login role bound to `site`, made with a name of its own (roles belong to the whole
/// server, which other tests share), and a pool logged in as it.
pub struct BoundRole {
    pub name: String,
    pub pool: DbPool,
}

impl BoundRole {
    pub async fn create(database: &TestDatabase, site: &str) -> Self {
        let name = format!("site_test_{}", &Uuid::new_v4().simple().to_string()[..12]);
        let client = database.pool().connection().await.unwrap();
        site_role::create(&client, &name, site, Some("test password"))
            .await
            .unwrap();
        let pool = purser_sql::connect_pool(&database.url_as(&name, "test password"), 2).unwrap();
        Self { name, pool }
    }

    pub async fn drop(self, database: &TestDatabase) {
        self.pool.close();
        let client = database.pool().connection().await.unwrap();
        site_role::drop_role(&client, &self.name).await.unwrap();
    }
}
