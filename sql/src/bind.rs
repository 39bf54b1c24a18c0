//! Binding a statement's parameters by name, checked when the code compiles.
//!
//! Every statement declares its parameters, names and PostgreSQL types, in the `statements!`
//! list (`src/statements.rs`), in the order of `$1`, `$2`, …. Code never passes values by
//! position: it names them, and [`bind!`](crate::bind!) puts them in the declared order.
//!
//! ```
//! # use purser_sql::bind;
//! # use purser_sql::statements::API_CLUSTER_LIST;
//! # use purser_sql::bind::Deferred;
//! # enum Paged {}
//! # impl Deferred for Paged { const NAMES: &'static [&'static str] = &["after", "fetch"]; }
//! let id = 7_i64;
//! let binding = bind!(purser_sql::statements::TASK_GET, id = &id);
//! // A function that binds some parameters itself (here `after` and `fetch`) takes a partial
//! // binding whose remaining parameters are its `Deferred` set.
//! let name: Option<String> = None;
//! let partial = bind!(API_CLUSTER_LIST, name = &name, ..Paged);
//! ```
//!
//! The names are checked at compile time against the declaration: a name the statement does
//! not declare, a name given twice, or a declared parameter left without a value stops the
//! build with a message naming the statement and the parameter, so two values of one type
//! cannot reach each other's parameters. What remains is the declaration itself: the test
//! that prepares every statement compares the declared types with the ones PostgreSQL infers,
//! which catches a declaration out of order unless the swapped parameters share a type; name
//! parameters for what they hold and keep them in the order of the statement's header comment.
//!
//! ```compile_fail,E0080
//! # use purser_sql::bind;
//! # use purser_sql::statements::API_SET_ACTOR;
//! let name = "Acme".to_string();
//! // error: api_set_actor: parameter `actr` is not declared
//! let binding = bind!(API_SET_ACTOR, actr = &name);
//! ```
//!
//! ```compile_fail,E0080
//! # use purser_sql::bind;
//! # use purser_sql::statements::API_ALLOCATION_SCOPE;
//! let id = uuid::Uuid::nil();
//! // error: api_allocation_scope: parameter `person_id` has no value
//! let binding = bind!(API_ALLOCATION_SCOPE, allocation_id = &id);
//! ```
//!
//! ```compile_fail,E0080
//! # use purser_sql::bind;
//! # use purser_sql::statements::API_ALLOCATION_SCOPE;
//! let id = uuid::Uuid::nil();
//! // error: api_allocation_scope: parameter `allocation_id` is given twice
//! let binding = bind!(API_ALLOCATION_SCOPE, allocation_id = &id, allocation_id = &id, person_id = &id);
//! ```

use std::marker::PhantomData;

use tokio_postgres::types::ToSql;

use crate::statements::Statement;

/// The value of one parameter.
pub type Value<'a> = &'a (dyn ToSql + Sync);

/// The parameters a function binds itself when given a [`PartialBinding`] (the API's page and
/// scope), by name, in the order [`PartialBinding::complete`] takes their values.
pub trait Deferred {
    /// The parameters' names.
    const NAMES: &'static [&'static str];
}

/// Where the value of a declared parameter comes from; computed by [`bind!`](crate::bind!)
/// at compile time.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The call site's value at this index.
    Given(usize),
    /// The deferred value at this index.
    Deferred(usize),
}

/// A statement with a value for each of its parameters, in the declared order: what the
/// functions of [`crate::pool`] run. Made by [`bind!`](crate::bind!).
#[derive(Clone)]
pub struct Binding<'a> {
    statement: Statement,
    values: Vec<Value<'a>>,
}

impl<'a> Binding<'a> {
    /// Orders the values by `plan`, which [`bind!`](crate::bind!) computed and checked.
    #[doc(hidden)]
    pub fn new(
        statement: Statement,
        plan: &[Source],
        given: &[Value<'a>],
        deferred: &[Value<'a>],
    ) -> Self {
        let values = plan
            .iter()
            .map(|source| match *source {
                Source::Given(index) => given[index],
                Source::Deferred(index) => deferred[index],
            })
            .collect();
        Self { statement, values }
    }

    /// The statement.
    pub fn statement(&self) -> Statement {
        self.statement
    }

    /// The values, in the order of the statement's parameters.
    pub fn values(&self) -> &[Value<'a>] {
        &self.values
    }
}

impl std::fmt::Debug for Binding<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Binding")
            .field("statement", &self.statement.name)
            .field("values", &self.values)
            .finish()
    }
}

/// A statement with values for some of its parameters; the function it is given to binds the
/// rest, the `Rest` set, with [`complete`](Self::complete). Made by
/// `bind!(STATEMENT, name = &value, ..Rest)`.
pub struct PartialBinding<'a, Rest: Deferred> {
    statement: Statement,
    plan: &'static [Source],
    given: Vec<Value<'a>>,
    rest: PhantomData<Rest>,
}

impl<'a, Rest: Deferred> PartialBinding<'a, Rest> {
    /// Keeps the call site's values until the deferred ones come.
    #[doc(hidden)]
    pub fn new(statement: Statement, plan: &'static [Source], given: Vec<Value<'a>>) -> Self {
        Self {
            statement,
            plan,
            given,
            rest: PhantomData,
        }
    }

    /// Binds the deferred parameters, one value per name of `Rest::NAMES`, in that order.
    pub fn complete<'b, const COUNT: usize>(self, deferred: [Value<'b>; COUNT]) -> Binding<'b>
    where
        'a: 'b,
    {
        const {
            assert!(
                COUNT == Rest::NAMES.len(),
                "complete takes one value per name of the deferred set"
            )
        };
        Binding::new(self.statement, self.plan, &self.given, &deferred)
    }
}

/// Binds a statement's parameters by name; see the [module](self) documentation.
///
/// `bind!(STATEMENT, name = &value, …)` gives a [`Binding`] (`bind!(STATEMENT)` for a statement
/// without parameters); `bind!(STATEMENT, name = &value, …, ..Rest)` a [`PartialBinding`] whose
/// `Rest` parameters the function it is given to binds.
#[macro_export]
macro_rules! bind {
    ($statement:path $(, $name:ident = $value:expr)* $(,)?) => {
        // The plan is a `const` item, evaluated when the crate compiles even inside a generic
        // function; the values stay outside its block, so their temporaries live as long as
        // the statement that runs the binding.
        $crate::bind::Binding::new(
            $statement,
            {
                const PLAN: [$crate::bind::Source; $statement.params.len()] =
                    $crate::bind::plan(&$statement, &[$(stringify!($name)),*], &[]);
                &PLAN
            },
            &[$($value),*],
            &[],
        )
    };
    ($statement:path, $($name:ident = $value:expr,)* ..$rest:ty $(,)?) => {
        $crate::bind::PartialBinding::<$rest>::new(
            $statement,
            {
                const PLAN: [$crate::bind::Source; $statement.params.len()] = $crate::bind::plan(
                    &$statement,
                    &[$(stringify!($name)),*],
                    <$rest as $crate::bind::Deferred>::NAMES,
                );
                &PLAN
            },
            vec![$($value),*],
        )
    };
}

/// Where each declared parameter's value comes from: the call site's `given` names or the
/// `deferred` ones. Evaluated at compile time by [`bind!`](crate::bind!), where a panic is a
/// compile error: it refuses a name the statement does not declare, a name given twice, and a
/// parameter without a value.
#[doc(hidden)]
pub const fn plan<const COUNT: usize>(
    statement: &Statement,
    given: &[&str],
    deferred: &[&str],
) -> [Source; COUNT] {
    let mut index = 0;
    while index < given.len() {
        check_name(statement, given[index], given, index, deferred);
        index += 1;
    }
    index = 0;
    while index < deferred.len() {
        check_name(statement, deferred[index], deferred, index, &[]);
        index += 1;
    }
    let mut plan = [Source::Given(0); COUNT];
    index = 0;
    while index < COUNT {
        let name = statement.params[index].name;
        plan[index] = match (position(given, name), position(deferred, name)) {
            (Some(at), _) => Source::Given(at),
            (None, Some(at)) => Source::Deferred(at),
            (None, None) => refuse(statement, name, "has no value"),
        };
        index += 1;
    }
    plan
}

/// Refuses `name`, the `at`th of `names`, when the statement does not declare it or when it
/// also appears earlier in `names` or in `others`.
const fn check_name(statement: &Statement, name: &str, names: &[&str], at: usize, others: &[&str]) {
    let mut declared = false;
    let mut index = 0;
    while index < statement.params.len() {
        declared = declared || same(statement.params[index].name, name);
        index += 1;
    }
    if !declared {
        refuse(statement, name, "is not declared");
    }
    let earlier = match position(names, name) {
        Some(first) => first < at,
        None => false,
    };
    if earlier || position(others, name).is_some() {
        refuse(statement, name, "is given twice");
    }
}

/// The index of `name` in `names`.
const fn position(names: &[&str], name: &str) -> Option<usize> {
    let mut index = 0;
    while index < names.len() {
        if same(names[index], name) {
            return Some(index);
        }
        index += 1;
    }
    None
}

/// Whether two strings are equal (`==` on `str` is not `const`).
const fn same(left: &str, right: &str) -> bool {
    let (left, right) = (left.as_bytes(), right.as_bytes());
    if left.len() != right.len() {
        return false;
    }
    let mut index = 0;
    while index < left.len() {
        if left[index] != right[index] {
            return false;
        }
        index += 1;
    }
    true
}

/// Stops compilation with "STATEMENT: parameter `NAME` PROBLEM" (a `const` panic can format
/// only one string, so the message is assembled in a buffer).
const fn refuse(statement: &Statement, name: &str, problem: &str) -> ! {
    let mut message = [0_u8; 256];
    let mut length = 0;
    length = append(&mut message, length, statement.name);
    length = append(&mut message, length, ": parameter `");
    length = append(&mut message, length, name);
    length = append(&mut message, length, "` ");
    length = append(&mut message, length, problem);
    match std::str::from_utf8(message.split_at(length).0) {
        Ok(text) => panic!("{}", text),
        Err(_) => panic!("bind! refused a parameter name"),
    }
}

/// Copies `text` into `buffer` from `length` on, as much as fits; returns the new length.
const fn append(buffer: &mut [u8], mut length: usize, text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() && length < buffer.len() {
        buffer[length] = bytes[index];
        length += 1;
        index += 1;
    }
    length
}
