//! The thin REST front-end: validates, authorizes, writes the registry and enqueues tasks in
//! one transaction, then returns. It never calls an external system itself.
