//! EXPLAIN text for the IR.
