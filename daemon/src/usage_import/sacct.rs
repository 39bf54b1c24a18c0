//! Reading Slurm's `sacct` output, one job record at a time, in either of its two formats.
//!
//! **parsable2**, read by its header: sacct may list more fields, in any order (XDMoD's
//! `--format`, or `JobID,JobIDRaw,Cluster,Partition,Account,User,…`); Purser reads the ones it
//! needs by name and ignores the rest. It needs `JobIDRaw` (or `JobID`), `User`, `Account`,
//! `Partition`, `Submit`, `Start`, `End`, `ElapsedRaw` and `AllocTRES` or `AllocCPUS` (the
//! CPU count is taken from `AllocCPUS` when `AllocTRES` has no `cpu`). A file without a header
//! must hold exactly the documented fields, in this order:
//!
//! ```sh
//! TZ=UTC sacct --allusers --allocations --parsable2 \
//!     --format=JobIDRaw,User,Account,Partition,Submit,Start,End,ElapsedRaw,AllocTRES,State \
//!     --starttime 2026-11-01 --endtime 2026-12-01 > november.txt
//! ```
//!
//! Times are read in the cluster's time zone (`registry.cluster.time_zone`, UTC unless set):
//! run sacct with `TZ` set to it. A file that is not parsable2 (plain fixed-width sacct output,
//! CSV, `--parsable` with its trailing `|`, a header without a needed field, a binary file) is
//! refused whole, before anything is charged. **json**: `sacct --allusers --allocations --json`
//! (Slurm 22.05, data_parser v0.0.38); its `jobs` list is read one job at a time, so the file's
//! size does not matter.
//!
//! TRES counts are read as Slurm writes them; memory is normalised to megabytes, which is what
//! the JSON format counts (`mem=16G` in parsable2 is 16384).

use std::io::BufRead;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The documented `--format` list: the fields, in order, of a file without a header.
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

/// The sacct command that writes what Purser reads, for a cluster whose times are in `zone`.
pub fn sacct_command(zone: Tz) -> String {
    format!(
        "TZ={} sacct --allusers --allocations --parsable2 --format={} --starttime START --endtime END > FILE",
        zone.name(),
        PARSABLE2_FIELDS.join(",")
    )
}

/// Why a file cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file is not what Purser reads: nothing of it is charged.
    #[error("{0}")]
    Refused(String),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

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
    /// When it started; `None` when it never did.
    pub start: Option<DateTime<Utc>>,
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

/// Where the fields Purser needs are in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    /// How many fields every line has.
    count: usize,
    job_id: usize,
    user: usize,
    account: usize,
    partition: usize,
    submit: usize,
    start: usize,
    end: usize,
    elapsed: usize,
    alloc_tres: Option<usize>,
    alloc_cpus: Option<usize>,
}

impl Columns {
    /// The documented order, for a file without a header.
    const DOCUMENTED: Self = Self {
        count: PARSABLE2_FIELDS.len(),
        job_id: 0,
        user: 1,
        account: 2,
        partition: 3,
        submit: 4,
        start: 5,
        end: 6,
        elapsed: 7,
        alloc_tres: Some(8),
        alloc_cpus: None,
    };

    /// The columns a header names, or what it lacks.
    fn from_header(header: &[&str], zone: Tz) -> Result<Self, ReadError> {
        let find = |name: &str| {
            header
                .iter()
                .position(|field| field.trim().eq_ignore_ascii_case(name))
        };
        let mut missing = Vec::new();
        let mut need = |name: &'static str| {
            find(name).unwrap_or_else(|| {
                missing.push(name);
                0
            })
        };
        let job_id = match find("JobIDRaw").or_else(|| find("JobID")) {
            Some(index) => index,
            None => need("JobIDRaw"),
        };
        let user = need("User");
        let account = need("Account");
        let partition = need("Partition");
        let submit = need("Submit");
        let start = need("Start");
        let end = need("End");
        let elapsed = need("ElapsedRaw");
        let alloc_tres = find("AllocTRES");
        let alloc_cpus = find("AllocCPUS");
        if alloc_tres.is_none() && alloc_cpus.is_none() {
            missing.push("AllocTRES");
        }
        if !missing.is_empty() {
            return Err(ReadError::Refused(format!(
                "its header lacks {} (it lists {}); run: {}",
                missing.join(", "),
                header.join(","),
                sacct_command(zone)
            )));
        }
        Ok(Self {
            count: header.len(),
            job_id,
            user,
            account,
            partition,
            submit,
            start,
            end,
            elapsed,
            alloc_tres,
            alloc_cpus,
        })
    }
}

/// Whether a first line is a header: it names the job id field.
fn is_header(fields: &[&str]) -> bool {
    fields.iter().any(|field| {
        let field = field.trim();
        field.eq_ignore_ascii_case("JobIDRaw") || field.eq_ignore_ascii_case("JobID")
    })
}

/// Refuses a file whose first line shows it is not parsable2, saying what it is instead.
fn refuse_unless_parsable2(first: &str, zone: Tz) -> Result<(), ReadError> {
    let refuse = |what: &str| {
        Err(ReadError::Refused(format!(
            "{what}, not sacct --parsable2 output; run: {}",
            sacct_command(zone)
        )))
    };
    if first.contains('\0') {
        refuse("it is a binary file")
    } else if !first.contains('|') && first.contains(',') {
        refuse("it is CSV (fields separated by commas)")
    } else if !first.contains('|') {
        refuse("it is plain sacct output (fixed-width columns, which truncate long values)")
    } else if first.ends_with('|') {
        refuse("its lines end with |, as sacct --parsable writes them")
    } else {
        Ok(())
    }
}

/// Reads parsable2 records in the time zone `zone`, calling `each` for every line but the
/// header and blank lines. The first line decides whether the file is read at all: a file
/// that is not parsable2, or whose header lacks a needed field, is refused before `each` is
/// called.
pub fn read_parsable2(
    mut input: impl BufRead,
    zone: Tz,
    mut each: impl FnMut(SacctRecord) -> bool,
) -> Result<(), ReadError> {
    let mut columns: Option<Columns> = None;
    let mut bytes = Vec::new();
    let mut position: i64 = 0;
    loop {
        bytes.clear();
        if input.read_until(b'\n', &mut bytes)? == 0 {
            return Ok(());
        }
        position += 1;
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        let text = std::str::from_utf8(&bytes);
        let Some(columns) = &columns else {
            let Ok(first) = text else {
                return Err(ReadError::Refused(format!(
                    "it is a binary file (its first line is not UTF-8 text), not sacct --parsable2 output; run: {}",
                    sacct_command(zone)
                )));
            };
            if first.trim().is_empty() {
                continue;
            }
            refuse_unless_parsable2(first, zone)?;
            let fields: Vec<&str> = first.split('|').collect();
            if is_header(&fields) {
                columns = Some(Columns::from_header(&fields, zone)?);
                continue;
            }
            if fields.len() != PARSABLE2_FIELDS.len() {
                return Err(ReadError::Refused(format!(
                    "it has no header and its first line has {} fields; without a header the fields must be exactly --format={}; run: {}",
                    fields.len(),
                    PARSABLE2_FIELDS.join(","),
                    sacct_command(zone)
                )));
            }
            columns = Some(Columns::DOCUMENTED);
            let first = first.to_string();
            let job = parse_parsable2_line(&first, &Columns::DOCUMENTED, zone);
            if !each(SacctRecord {
                position,
                raw: first,
                job,
            }) {
                return Ok(());
            }
            continue;
        };
        let (raw, job) = match text {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => (line.to_string(), parse_parsable2_line(line, columns, zone)),
            Err(_) => (
                String::from_utf8_lossy(&bytes).into_owned(),
                Err("the line is not UTF-8 text".to_string()),
            ),
        };
        if !each(SacctRecord { position, raw, job }) {
            return Ok(());
        }
    }
}

fn parse_parsable2_line(line: &str, columns: &Columns, zone: Tz) -> Result<SacctJob, String> {
    let fields: Vec<&str> = line.split('|').collect();
    if fields.len() != columns.count {
        return Err(format!(
            "expected {} fields separated by |, found {}",
            columns.count,
            fields.len()
        ));
    }
    let field = |index: usize, name: &str| -> Result<&str, String> {
        let value = fields[index].trim();
        if value.is_empty() {
            Err(format!("{name} is empty"))
        } else {
            Ok(value)
        }
    };
    let optional_time = |index: usize, name: &str| match fields[index].trim() {
        "Unknown" | "None" | "" => Ok(None),
        text => local_time(text, name, zone).map(Some),
    };
    let job_id = field(columns.job_id, "JobIDRaw")?;
    if job_id.contains('.') {
        return Err(format!(
            "job {job_id} is a job step, whose usage its job already counts; run sacct with --allocations"
        ));
    }
    let mut allocated_tres = match columns.alloc_tres {
        Some(index) => parse_tres(fields[index].trim())?,
        None => Vec::new(),
    };
    if let Some(index) = columns.alloc_cpus
        && !allocated_tres.iter().any(|(name, _)| name == "cpu")
        && !fields[index].trim().is_empty()
    {
        let cpus = fields[index].trim();
        let count = cpus
            .parse::<Decimal>()
            .map_err(|_| format!("AllocCPUS {cpus:?} is not a number"))?;
        allocated_tres.push(("cpu".to_string(), count));
    }
    Ok(SacctJob {
        job_id: job_id.to_string(),
        user: field(columns.user, "User")?.to_string(),
        account: field(columns.account, "Account")?.to_string(),
        partition: field(columns.partition, "Partition")?.to_string(),
        submit: local_time(field(columns.submit, "Submit")?, "Submit", zone)?,
        start: optional_time(columns.start, "Start")?,
        end: optional_time(columns.end, "End")?,
        elapsed_seconds: {
            let elapsed = fields[columns.elapsed].trim();
            elapsed
                .parse()
                .map_err(|_| format!("ElapsedRaw {elapsed:?} is not a whole number of seconds"))?
        },
        allocated_tres,
    })
}

/// A sacct time in the cluster's zone, as UTC. An ambiguous time (the hour repeated when
/// daylight saving ends) is read as the earlier of the two.
fn local_time(text: &str, name: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    // chrono's ISO 8601 parser (FromStr) skips parsing a format string on every call.
    let naive = text.parse::<NaiveDateTime>().map_err(|_| {
        format!(
            "{name} {text:?} is not a time like 2026-11-22T04:44:05 ({})",
            zone.name()
        )
    })?;
    if zone == Tz::UTC {
        return Ok(naive.and_utc());
    }
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|time| time.with_timezone(&Utc))
        .ok_or_else(|| {
            format!(
                "{name} {text:?} does not exist in {} (a daylight-saving gap)",
                zone.name()
            )
        })
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
    number.parse::<Decimal>().ok()?.checked_mul(factor)
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
    start: i64,
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
            start: if self.time.start > 0 {
                Some(timestamp(self.time.start, "start")?)
            } else {
                None
            },
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
        parsable2_in(text, Tz::UTC).unwrap()
    }

    fn parsable2_in(text: &str, zone: Tz) -> Result<Vec<SacctRecord>, ReadError> {
        let mut records = Vec::new();
        read_parsable2(text.as_bytes(), zone, |record| {
            records.push(record);
            true
        })?;
        Ok(records)
    }

    fn refusal(text: &str) -> String {
        match parsable2_in(text, Tz::UTC) {
            Err(ReadError::Refused(reason)) => reason,
            other => panic!("not refused: {other:?}"),
        }
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
            Tz::UTC,
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
                    7|alice|che260001|debug|2026-11-22T04:44:05|2026-11-22T04:44:05|2026-11-22T05:44:05|3600|cpu=4,gres/gpu=1,mem=16G|COMPLETED\n\
                    8|alice|che260001\n\
                    9|alice|che260001|debug|yesterday|2026-11-22T04:44:05|2026-11-22T05:44:05|3600|cpu=4|COMPLETED\n\
                    10|alice|che260001|debug|2026-11-22T04:44:05|2026-11-22T04:44:05|2026-11-22T05:44:05|an hour|cpu=4|COMPLETED\n\
                    11|alice|che260001|debug|2026-11-22T04:44:05|2026-11-22T04:44:05|2026-11-22T05:44:05|3600|cpu=four|COMPLETED\n\
                    12|bob|che260001|debug|2026-11-22T04:44:05|2026-11-22T04:44:05|Unknown|60|cpu=1|RUNNING\n";
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
    fn a_header_without_a_needed_field_refuses_the_file_naming_what_it_lacks() {
        let reason = refusal("JobID|User\n1|alice\n");
        assert!(
            reason.contains(
                "its header lacks Account, Partition, Submit, Start, End, ElapsedRaw, AllocTRES"
            ),
            "{reason}"
        );
        assert!(
            reason.contains("--format=JobIDRaw,User,Account"),
            "{reason}"
        );
    }

    #[test]
    fn files_that_are_not_parsable2_are_refused_saying_what_they_are_and_what_to_run() {
        let fixed_width = "JobID           JobName  Partition    Account  AllocCPUS      State ExitCode\n\
                           ------------ ---------- ---------- ---------- ---------- ---------- --------\n\
                           1                  test      debug  che260001          1  COMPLETED      0:0\n";
        let csv = "JobIDRaw,User,Account\n1,alice,che260001\n";
        let parsable =
            "JobIDRaw|User|Account|Partition|Submit|Start|End|ElapsedRaw|AllocTRES|State|\n";
        let binary = "\u{0}\u{1}ELF|\n";
        let headerless_short = "1|alice|che260001\n";
        for (text, what) in [
            (fixed_width, "plain sacct output (fixed-width"),
            (csv, "it is CSV"),
            (parsable, "end with |, as sacct --parsable"),
            (binary, "binary file"),
            (
                headerless_short,
                "no header and its first line has 3 fields",
            ),
        ] {
            let reason = refusal(text);
            assert!(reason.contains(what), "{reason}");
            assert!(
                reason.contains("TZ=UTC sacct --allusers --allocations --parsable2 --format="),
                "{reason}"
            );
            assert_eq!(reason.lines().count(), 1, "{reason}");
        }
        let invalid_utf8 = parsable2_in_bytes(b"\xff\xfe|x\n");
        assert!(
            matches!(invalid_utf8, Err(ReadError::Refused(reason)) if reason.contains("binary"))
        );
    }

    fn parsable2_in_bytes(bytes: &[u8]) -> Result<Vec<SacctRecord>, ReadError> {
        let mut records = Vec::new();
        read_parsable2(bytes, Tz::UTC, |record| {
            records.push(record);
            true
        })?;
        Ok(records)
    }

    #[test]
    fn a_header_in_another_order_with_more_fields_is_read_by_name() {
        let text = "JobID|JobIDRaw|Cluster|Partition|Account|User|State|ElapsedRaw|Start|End|Submit|AllocCPUS|AllocTRES|NNodes\n\
                    77_1|78|expanse|gpu|che260001|alice|COMPLETED|3600|2026-11-22T01:00:00|2026-11-22T02:00:00|2026-11-22T00:59:00|4|gres/gpu=2,mem=8G|1\n\
                    79|79|expanse|gpu|che260001|bob|COMPLETED|60|2026-11-22T01:00:00|2026-11-22T01:01:00|2026-11-22T00:59:00|2|cpu=8|1\n";
        let records = parsable2(text);
        let first = records[0].job.as_ref().unwrap();
        assert_eq!(
            (
                first.job_id.as_str(),
                first.user.as_str(),
                first.account.as_str(),
                first.partition.as_str()
            ),
            ("78", "alice", "che260001", "gpu"),
            "JobIDRaw wins over JobID"
        );
        assert_eq!(first.elapsed_seconds, 3600);
        assert_eq!(
            first.start.unwrap().to_rfc3339(),
            "2026-11-22T01:00:00+00:00"
        );
        assert!(
            first
                .allocated_tres
                .contains(&("cpu".to_string(), Decimal::from(4))),
            "AllocCPUS when AllocTRES has no cpu"
        );
        assert!(
            first
                .allocated_tres
                .contains(&("gres/gpu".to_string(), Decimal::from(2)))
        );
        let second = records[1].job.as_ref().unwrap();
        assert_eq!(
            second.allocated_tres,
            vec![("cpu".to_string(), Decimal::from(8))],
            "AllocTRES's cpu wins over AllocCPUS"
        );
    }

    #[test]
    fn times_are_read_in_the_clusters_time_zone() {
        let text = "1|alice|che260001|debug|2026-07-01T08:00:00|2026-07-01T08:00:00|2026-07-01T09:00:00|3600|cpu=1|COMPLETED\n";
        let zone: Tz = "America/Los_Angeles".parse().unwrap();
        let records = parsable2_in(text, zone).unwrap();
        let job = records[0].job.as_ref().unwrap();
        assert_eq!(
            job.submit.to_rfc3339(),
            "2026-07-01T15:00:00+00:00",
            "PDT is UTC−7"
        );
        assert_eq!(job.end.unwrap().to_rfc3339(), "2026-07-01T16:00:00+00:00");
        let gap = "1|alice|che260001|debug|2026-03-08T02:30:00|Unknown|2026-03-08T03:30:00|0|cpu=1|CANCELLED\n";
        let reason = parsable2_in(gap, zone).unwrap()[0].job.clone().unwrap_err();
        assert!(reason.contains("daylight-saving gap"), "{reason}");
    }

    #[test]
    fn job_steps_are_rejected_because_their_job_already_counts_them() {
        let text = "5.batch|alice|che260001|debug|2026-11-22T01:00:00|2026-11-22T01:00:00|2026-11-22T02:00:00|3600|cpu=1|COMPLETED\n";
        let reason = parsable2(text)[0].job.clone().unwrap_err();
        assert!(reason.contains("--allocations"), "{reason}");
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
