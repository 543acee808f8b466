//! What the `ansible` and `ansible-local` provisioners share: reading ansible-playbook's output
//! to name the failed task and host, and quoting arguments.

pub mod output;
