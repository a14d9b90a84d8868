//! eddy-pgwire
