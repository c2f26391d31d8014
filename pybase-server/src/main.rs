//! PyBase server binary.
fn main() {}
