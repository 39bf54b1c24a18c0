//! Reading Slurm's `sacct` output, one job record at a time, in either of its two formats.
//!
//! **parsable2**, with times in UTC and exactly these fields, in this order:
//!
//! ```sh
//! TZ=UTC sacct --allusers --allocations --parsable2 \
//!     --format=JobIDRaw,User,Account,Partition,Submit,Start,End,ElapsedRaw,AllocTRES,State \
//!     --starttime 2026-11-01 --endtime 2026-12-01 > november.txt
//! ```
//!
//! The header line is optional (and checked when present). **json**: `sacct --allusers
//! --allocations --json` (Slurm 22.05, data_parser v0.0.38); its `jobs` list is read one job
//! at a time, so the file's size does not matter.
//!
//! TRES counts are read as Slurm writes them; memory is normalised to megabytes, which is what
//! the JSON format counts (`mem=16G` in parsable2 is 16384).

use std::io::BufRead;

use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The fields `--format` must list, in order.
pub const PARSABLE2_FIELDS: [&str; 10] = [
    "JobIDRaw",
    "User",
    "Account",
    "Partition",
    "Submit",
    "Start",
    "End",
    "ElapsedRaw",
    "AllocTRES",
    "State",
];

/// One job, as sacct reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct SacctJob {
    /// The job id.
    pub job_id: String,
    /// Who ran it.
    pub user: String,
    /// The account it ran under.
    pub account: String,
    /// The partition it ran in.
    pub partition: String,
    /// When it was submitted.
    pub submit: DateTime<Utc>,
    /// When it ended; `None` while it has not.
    pub end: Option<DateTime<Utc>>,
    /// How long it ran, in seconds.
    pub elapsed_seconds: i64,
    /// Allocated TRES: `cpu`, `gres/gpu`, `mem` (in MB) … with their counts.
    pub allocated_tres: Vec<(String, Decimal)>,
}

/// A record read from the file: where it was, what it said, and the job or why not.
#[derive(Debug, Clone, PartialEq)]
pub struct SacctRecord {
    /// Line number (parsable2) or position in the jobs list (json), from 1.
    pub position: i64,
    /// The record as read, for a rejection.
    pub raw: String,
    /// The job, or why it could not be read.
    pub job: Result<SacctJob, String>,
}

impl SacctRecord {
    /// The job id, when the record has one (a record that failed to parse may still).
    pub fn job_id(&self) -> Option<String> {
        match &self.job {
            Ok(job) => Some(job.job_id.clone()),
            Err(_) if self.raw.starts_with('{') => {
                serde_json::from_str::<serde_json::Value>(&self.raw)
                    .ok()
                    .and_then(|value| match value.get("job_id")? {
                        serde_json::Value::Number(number) => Some(number.to_string()),
                        serde_json::Value::String(text) => Some(text.clone()),
                        _ => None,
                    })
            }
            Err(_) => self
                .raw
                .split('|')
                .next()
                .filter(|id| !id.is_empty())
                .map(str::to_string),
        }
    }
}

/// Reads parsable2 records, calling `each` for every line but the header and blank lines.
pub fn read_parsable2(
    input: impl BufRead,
    mut each: impl FnMut(SacctRecord) -> bool,
) -> std::io::Result<()> {
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        let position = i64::try_from(index).unwrap_or(i64::MAX - 1) + 1;
        if line.trim().is_empty() {
            continue;
        }
        if position == 1 && line.starts_with("JobID") {
            let header: Vec<&str> = line.split('|').collect();
            if header != PARSABLE2_FIELDS {
                let job = Err(format!(
                    "the header lists {}; sacct must be run with --format={}",
                    header.join(","),
                    PARSABLE2_FIELDS.join(",")
                ));
                if !each(SacctRecord {
                    position,
                    raw: line,
                    job,
                }) {
                    return Ok(());
                }
            }
            continue;
        }
        let job = parse_parsable2_line(&line);
        if !each(SacctRecord {
            position,
            raw: line,
            job,
        }) {
            return Ok(());
        }
    }
    Ok(())
}

fn parse_parsable2_line(line: &str) -> Result<SacctJob, String> {
    let mut fields = [""; PARSABLE2_FIELDS.len()];
    let mut found = 0;
    for (index, field) in line.split('|').enumerate() {
        if let Some(slot) = fields.get_mut(index) {
            *slot = field;
        }
        found = index + 1;
    }
    if found != PARSABLE2_FIELDS.len() {
        return Err(format!(
            "expected {} fields separated by |, found {found}",
            PARSABLE2_FIELDS.len()
        ));
    }
    let field = |index: usize| -> Result<&str, String> {
        let value = fields[index].trim();
        if value.is_empty() {
            Err(format!("{} is empty", PARSABLE2_FIELDS[index]))
        } else {
            Ok(value)
        }
    };
    let end = match fields[6].trim() {
        "Unknown" | "None" | "" => None,
        text => Some(parse_time(text, "End")?),
    };
    Ok(SacctJob {
        job_id: field(0)?.to_string(),
        user: field(1)?.to_string(),
        account: field(2)?.to_string(),
        partition: field(3)?.to_string(),
        submit: parse_time(field(4)?, "Submit")?,
        end,
        elapsed_seconds: field(7)?.parse().map_err(|_| {
            format!(
                "ElapsedRaw {:?} is not a whole number of seconds",
                fields[7]
            )
        })?,
        allocated_tres: parse_tres(fields[8].trim())?,
    })
}

fn parse_time(text: &str, name: &str) -> Result<DateTime<Utc>, String> {
    // chrono's ISO 8601 parser (FromStr) skips parsing a format string on every call.
    text.parse::<NaiveDateTime>()
        .map(|time| time.and_utc())
        .map_err(|_| format!("{name} {text:?} is not a time like 2026-11-22T04:44:05 (UTC)"))
}

/// `billing=2,cpu=2,gres/gpu=1,mem=200M,node=1` to (name, count) pairs; memory in MB.
fn parse_tres(text: &str) -> Result<Vec<(String, Decimal)>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|entry| {
            let (name, count) = entry
                .split_once('=')
                .ok_or_else(|| format!("AllocTRES entry {entry:?} is not name=count"))?;
            let count = if name == "mem" {
                memory_megabytes(count)
            } else {
                count.parse::<Decimal>().ok()
            }
            .ok_or_else(|| format!("AllocTRES count {count:?} of {name} is not a number"))?;
            Ok((name.to_string(), count))
        })
        .collect()
}

fn memory_megabytes(text: &str) -> Option<Decimal> {
    let (number, factor) = match text.char_indices().last()? {
        (at, 'K') => (&text[..at], Decimal::new(1, 0) / Decimal::from(1024)),
        (at, 'M') => (&text[..at], Decimal::from(1)),
        (at, 'G') => (&text[..at], Decimal::from(1024)),
        (at, 'T') => (&text[..at], Decimal::from(1024 * 1024)),
        _ => (text, Decimal::from(1)),
    };
    Some(number.parse::<Decimal>().ok()? * factor)
}

/// Reads the jobs of a `sacct --json` document one at a time, calling `each` for every one.
pub fn read_json(
    input: impl std::io::Read,
    each: impl FnMut(SacctRecord) -> bool,
) -> Result<(), String> {
    let mut deserializer = serde_json::Deserializer::from_reader(input);
    Document { each }
        .deserialize(&mut deserializer)
        .map_err(|error| format!("the file is not sacct --json output: {error}"))
}

/// The top-level object: everything but `jobs` is skipped.
struct Document<F> {
    each: F,
}

impl<'de, F: FnMut(SacctRecord) -> bool> DeserializeSeed<'de> for Document<F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: FnMut(SacctRecord) -> bool> Visitor<'de> for Document<F> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a sacct --json document")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "jobs" {
                map.next_value_seed(Jobs {
                    each: &mut self.each,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Jobs<'a, F> {
    each: &'a mut F,
}

impl<'de, F: FnMut(SacctRecord) -> bool> DeserializeSeed<'de> for Jobs<'_, F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(SacctRecord) -> bool> Visitor<'de> for Jobs<'_, F> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a list of jobs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<(), A::Error> {
        let mut position = 0;
        while let Some(value) = sequence.next_element::<serde_json::Value>()? {
            position += 1;
            let job = serde_json::from_value::<JsonJob>(value.clone())
                .map_err(|error| format!("not a job record: {error}"))
                .and_then(JsonJob::into_job);
            let raw = value.to_string();
            if !(self.each)(SacctRecord { position, raw, job }) {
                // The rest is skipped, not parsed into jobs.
                while sequence.next_element::<IgnoredAny>()?.is_some() {}
                break;
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct JsonJob {
    job_id: serde_json::Value,
    user: String,
    account: Option<String>,
    partition: Option<String>,
    time: JsonTime,
    tres: JsonTres,
}

#[derive(Deserialize)]
struct JsonTime {
    elapsed: i64,
    submission: i64,
    end: i64,
}

#[derive(Deserialize)]
struct JsonTres {
    allocated: Vec<JsonTresEntry>,
}

#[derive(Deserialize)]
struct JsonTresEntry {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    count: Option<serde_json::Number>,
}

impl JsonJob {
    fn into_job(self) -> Result<SacctJob, String> {
        let job_id = match &self.job_id {
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::String(text) if !text.is_empty() => text.clone(),
            other => return Err(format!("job_id {other} is not a job id")),
        };
        let timestamp = |seconds: i64, name: &str| {
            DateTime::from_timestamp(seconds, 0)
                .ok_or_else(|| format!("time.{name} {seconds} is not a time"))
        };
        let allocated_tres = self
            .tres
            .allocated
            .into_iter()
            .filter_map(|entry| {
                let count = entry.count?.to_string().parse::<Decimal>().ok()?;
                let name = match entry.name.filter(|name| !name.is_empty()) {
                    Some(name) => format!("{}/{name}", entry.kind),
                    None => entry.kind,
                };
                Some((name, count))
            })
            .collect();
        Ok(SacctJob {
            job_id,
            user: self.user,
            account: self
                .account
                .filter(|a| !a.is_empty())
                .ok_or("the job has no account")?,
            partition: self
                .partition
                .filter(|p| !p.is_empty())
                .ok_or("the job has no partition")?,
            submit: timestamp(self.time.submission, "submission")?,
            end: if self.time.end > 0 {
                Some(timestamp(self.time.end, "end")?)
            } else {
                None
            },
            elapsed_seconds: self.time.elapsed,
            allocated_tres,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsable2(text: &str) -> Vec<SacctRecord> {
        let mut records = Vec::new();
        read_parsable2(text.as_bytes(), |record| {
            records.push(record);
            true
        })
        .unwrap();
        records
    }

    #[test]
    fn real_sacct_22_05_parsable2_output_reads_job_by_job() {
        let records = parsable2(include_str!("../../tests/fixtures/sacct-22.05.parsable2"));
        assert_eq!(records.len(), 4);
        let first = records[0].job.as_ref().unwrap();
        assert_eq!(first.job_id, "1");
        assert_eq!(
            (
                first.user.as_str(),
                first.account.as_str(),
                first.partition.as_str()
            ),
            ("alice", "che260001", "debug")
        );
        assert_eq!(first.submit.to_rfc3339(), "2026-11-22T04:44:05+00:00");
        assert_eq!(first.end.unwrap().to_rfc3339(), "2026-11-22T04:44:06+00:00");
        assert_eq!(first.elapsed_seconds, 1);
        assert!(
            first
                .allocated_tres
                .contains(&("cpu".to_string(), Decimal::from(1)))
        );
        assert!(
            first
                .allocated_tres
                .contains(&("mem".to_string(), Decimal::from(100)))
        );
        assert_eq!(
            records[3].position, 5,
            "positions are file lines, the header being line 1"
        );
    }

    #[test]
    fn real_sacct_22_05_json_output_reads_the_same_jobs() {
        let mut jobs = Vec::new();
        read_json(
            include_str!("../../tests/fixtures/sacct-22.05.json").as_bytes(),
            |record| {
                jobs.push(record.job.unwrap());
                true
            },
        )
        .unwrap();
        let mut from_text = Vec::new();
        read_parsable2(
            include_str!("../../tests/fixtures/sacct-22.05.parsable2").as_bytes(),
            |record| {
                from_text.push(record.job.unwrap());
                true
            },
        )
        .unwrap();
        assert_eq!(jobs.len(), 4);
        for (json, text) in jobs.iter().zip(&from_text) {
            assert_eq!(
                (&json.job_id, &json.user, &json.account, &json.partition),
                (&text.job_id, &text.user, &text.account, &text.partition)
            );
            assert_eq!(
                (json.submit, json.end, json.elapsed_seconds),
                (text.submit, text.end, text.elapsed_seconds)
            );
            let cpu = |job: &SacctJob| {
                job.allocated_tres
                    .iter()
                    .find(|(name, _)| name == "cpu")
                    .map(|(_, count)| *count)
            };
            assert_eq!(cpu(json), cpu(text));
            let mem = |job: &SacctJob| {
                job.allocated_tres
                    .iter()
                    .find(|(name, _)| name == "mem")
                    .map(|(_, count)| *count)
            };
            assert_eq!(mem(json), mem(text));
        }
    }

    #[test]
    fn malformed_lines_are_rejected_with_a_reason_and_the_rest_still_read() {
        let text = "JobIDRaw|User|Account|Partition|Submit|Start|End|ElapsedRaw|AllocTRES|State\n\
                    7|alice|che260001|debug|2026-11-22T04:44:05|x|2026-11-22T05:44:05|3600|cpu=4,gres/gpu=1,mem=16G|COMPLETED\n\
                    8|alice|che260001\n\
                    9|alice|che260001|debug|yesterday|x|2026-11-22T05:44:05|3600|cpu=4|COMPLETED\n\
                    10|alice|che260001|debug|2026-11-22T04:44:05|x|2026-11-22T05:44:05|an hour|cpu=4|COMPLETED\n\
                    11|alice|che260001|debug|2026-11-22T04:44:05|x|2026-11-22T05:44:05|3600|cpu=four|COMPLETED\n\
                    12|bob|che260001|debug|2026-11-22T04:44:05|x|Unknown|60|cpu=1|RUNNING\n";
        let records = parsable2(text);
        assert_eq!(records.len(), 6);
        let good = records[0].job.as_ref().unwrap();
        assert!(
            good.allocated_tres
                .contains(&("gres/gpu".to_string(), Decimal::from(1)))
        );
        assert!(
            good.allocated_tres
                .contains(&("mem".to_string(), Decimal::from(16384)))
        );
        let reasons: Vec<String> = records[1..5]
            .iter()
            .map(|record| record.job.clone().unwrap_err())
            .collect();
        assert!(reasons[0].contains("expected 10 fields"), "{reasons:?}");
        assert!(reasons[1].contains("Submit \"yesterday\""), "{reasons:?}");
        assert!(reasons[2].contains("ElapsedRaw"), "{reasons:?}");
        assert!(reasons[3].contains("cpu"), "{reasons:?}");
        assert_eq!(records[1].job_id().as_deref(), Some("8"));
        assert_eq!(
            records[5].job.as_ref().unwrap().end,
            None,
            "a running job has no end yet"
        );
    }

    #[test]
    fn a_header_with_other_fields_is_refused() {
        let records = parsable2("JobID|User\n1|alice\n");
        assert!(
            records[0]
                .job
                .clone()
                .unwrap_err()
                .contains("--format=JobIDRaw,User,Account")
        );
    }

    #[test]
    fn json_that_is_not_sacct_output_is_an_error() {
        assert!(read_json(&b"[1, 2]"[..], |_| true).is_err());
        // A job record that is not a job is rejected, keeping its id, and reading goes on.
        let mut rejected_ids = Vec::new();
        read_json(&b"{\"jobs\": [{\"job_id\": 17}]}"[..], |record| {
            assert!(record.job.is_err());
            rejected_ids.push(record.job_id());
            true
        })
        .unwrap();
        assert_eq!(rejected_ids, vec![Some("17".to_string())]);
    }
}
