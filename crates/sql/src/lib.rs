//! eddy-sql
