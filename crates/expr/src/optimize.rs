//! Optimizer passes over the IR.
