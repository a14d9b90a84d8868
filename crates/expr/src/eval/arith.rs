//! Arithmetic and math functions on `smallint`, `integer`, `bigint`, `real`,
//! `double precision` and `numeric`, as Postgres computes them.
//!
//! - Integers: overflow is `smallint/integer/bigint out of range` (22003) for the wider
//!   operand's type; `/` truncates toward zero; `%` takes the dividend's sign; a zero
//!   divisor is `division by zero` (22012).
//! - Floats: IEEE arithmetic with Postgres' checks: an infinite result from finite
//!   operands is `value out of range: overflow`, a zero result from nonzero operands
//!   `value out of range: underflow`, and dividing by zero is an error, not infinity.
//! - Numerics ([`Numeric`]): `+`/`-` keep the larger scale, `*` the sum of scales, `/`
//!   the scale of Postgres' `select_div_scale` (at least 16 significant digits), all
//!   exact; a result that needs more than the 38 digits a numeric holds is `value
//!   overflows numeric format` (22003), never a rounded value. NaN in gives NaN out
//!   (`NaN / 0` too), as in Postgres.

use eddy_repr::numeric::{NUMERIC_MAX_PRECISION, NUMERIC_MAX_SCALE, NUMERIC_MIN_SIG_DIGITS};
use eddy_repr::{Datum, Numeric};

use super::{datetime, unexpected};
use crate::error::EvalError;
use crate::func::BinaryFunc;

// ---------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------

/// An integer operand: its value and the name of its type, ranked by width.
fn int_of(d: &Datum) -> Option<(i64, u8)> {
    match d {
        Datum::Int16(v) => Some((*v as i64, 0)),
        Datum::Int32(v) => Some((*v as i64, 1)),
        Datum::Int64(v) => Some((*v, 2)),
        _ => None,
    }
}

fn int_type_name(width: u8) -> &'static str {
    match width {
        0 => "smallint",
        1 => "integer",
        _ => "bigint",
    }
}

fn int_datum(v: i128, width: u8) -> Result<Datum, EvalError> {
    let out_of_range = || EvalError::OutOfRange(int_type_name(width).into());
    Ok(match width {
        0 => Datum::Int16(i16::try_from(v).map_err(|_| out_of_range())?),
        1 => Datum::Int32(i32::try_from(v).map_err(|_| out_of_range())?),
        _ => Datum::Int64(i64::try_from(v).map_err(|_| out_of_range())?),
    })
}

fn is_float(d: &Datum) -> bool {
    matches!(d, Datum::Float32(_) | Datum::Float64(_))
}

fn is_number(d: &Datum) -> bool {
    matches!(
        d,
        Datum::Int16(_)
            | Datum::Int32(_)
            | Datum::Int64(_)
            | Datum::Float32(_)
            | Datum::Float64(_)
            | Datum::Numeric(_)
    )
}

/// A number as `double precision` (numerics converted through their text, as
/// Postgres' `numeric_float8` does, so the result is correctly rounded).
pub(crate) fn to_f64(d: &Datum) -> Result<f64, EvalError> {
    Ok(match d {
        Datum::Int16(v) => *v as f64,
        Datum::Int32(v) => *v as f64,
        Datum::Int64(v) => *v as f64,
        Datum::Float32(v) => v.0 as f64,
        Datum::Float64(v) => v.0,
        Datum::Numeric(v) => numeric_to_f64(v),
        other => {
            return Err(unexpected(
                "to double precision",
                std::slice::from_ref(other),
            ))
        }
    })
}

pub(crate) fn numeric_to_f64(v: &Numeric) -> f64 {
    v.to_f64()
}

/// An exact number as `numeric`.
pub(crate) fn to_decimal(d: &Datum) -> Result<Numeric, EvalError> {
    Ok(match d {
        Datum::Int16(v) => Numeric::from(*v),
        Datum::Int32(v) => Numeric::from(*v),
        Datum::Int64(v) => Numeric::from(*v),
        Datum::Numeric(v) => *v,
        other => return Err(unexpected("to numeric", std::slice::from_ref(other))),
    })
}

// ---------------------------------------------------------------------------------
// Floats
// ---------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

macro_rules! float_op {
    ($name:ident, $t:ty) => {
        /// One float operation with Postgres' overflow, underflow and zero checks.
        fn $name(op: Op, x: $t, y: $t) -> Result<$t, EvalError> {
            let r = match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                Op::Div => {
                    if y == 0.0 && !x.is_nan() {
                        return Err(EvalError::DivisionByZero);
                    }
                    x / y
                }
            };
            let overflow = match op {
                Op::Div => r.is_infinite() && !x.is_infinite(),
                _ => r.is_infinite() && !x.is_infinite() && !y.is_infinite(),
            };
            if overflow {
                return Err(EvalError::FloatOverflow);
            }
            let underflow = match op {
                Op::Mul => r == 0.0 && x != 0.0 && y != 0.0,
                Op::Div => r == 0.0 && x != 0.0 && !y.is_infinite(),
                _ => false,
            };
            if underflow {
                return Err(EvalError::FloatUnderflow);
            }
            Ok(r)
        }
    };
}
float_op!(f32_op, f32);
float_op!(f64_op, f64);

fn float_arith(op: Op, a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    match (a, b) {
        (Datum::Float32(x), Datum::Float32(y)) => {
            Ok(Datum::Float32(eddy_repr::OrdF32(f32_op(op, x.0, y.0)?)))
        }
        _ => Ok(Datum::Float64(eddy_repr::OrdF64(f64_op(
            op,
            to_f64(a)?,
            to_f64(b)?,
        )?))),
    }
}

// ---------------------------------------------------------------------------------
// Numerics
// ---------------------------------------------------------------------------------

/// `d` with exactly `scale` fractional digits (a negative `scale` is 0): rounded half
/// away from zero, or padded with zeros.
pub(crate) fn with_scale(d: Numeric, scale: i64) -> Result<Numeric, EvalError> {
    let scale = scale.clamp(0, i64::from(NUMERIC_MAX_SCALE)) as u32;
    Ok(d.with_scale(scale)?)
}

/// `numeric / numeric` with Postgres' result scale (`1/3` is `0.33333333333333333333`,
/// `10/4` is `2.5000000000000000`).
pub fn numeric_div(a: Numeric, b: Numeric) -> Result<Numeric, EvalError> {
    Ok(a.checked_div(b)?)
}

/// Rounds `d` to `numeric(precision, scale)` (half away from zero) and checks that it
/// fits, as Postgres' `apply_typmod` does. NaN fits every typmod.
pub fn numeric_with_typmod(d: Numeric, precision: u8, scale: u8) -> Result<Numeric, EvalError> {
    if d.is_nan() {
        return Ok(d);
    }
    let r = with_scale(d, scale as i64)?;
    // A scale above 38 means no integer digits (10^39 > 2^128).
    let int_part = 10u128
        .checked_pow(r.scale())
        .map_or(0, |unit| r.coefficient() / unit);
    let int_digits = if int_part == 0 {
        0
    } else {
        int_part.ilog10() as i64 + 1
    };
    if int_digits > precision as i64 - scale as i64 {
        return Err(EvalError::NumericTypmodOverflow { precision, scale });
    }
    Ok(r)
}

fn numeric_arith(op: Op, a: Numeric, b: Numeric) -> Result<Numeric, EvalError> {
    Ok(match op {
        Op::Add => a.checked_add(b)?,
        Op::Sub => a.checked_sub(b)?,
        Op::Mul => a.checked_mul(b)?,
        Op::Div => a.checked_div(b)?,
    })
}

// ---------------------------------------------------------------------------------
// Operators
// ---------------------------------------------------------------------------------

fn arith(op: Op, a: Datum, b: Datum) -> Result<Datum, EvalError> {
    if let (Some((x, wx)), Some((y, wy))) = (int_of(&a), int_of(&b)) {
        let (x, y) = (x as i128, y as i128);
        let width = wx.max(wy);
        let r = match op {
            Op::Add => x + y,
            Op::Sub => x - y,
            Op::Mul => x * y,
            Op::Div => {
                if y == 0 {
                    return Err(EvalError::DivisionByZero);
                }
                x / y
            }
        };
        return int_datum(r, width);
    }
    if is_number(&a) && is_number(&b) {
        if is_float(&a) || is_float(&b) {
            return float_arith(op, &a, &b);
        }
        let r = numeric_arith(op, to_decimal(&a)?, to_decimal(&b)?)?;
        return Ok(Datum::Numeric(r));
    }
    let name = match op {
        Op::Add => "+",
        Op::Sub => "-",
        Op::Mul => "*",
        Op::Div => "/",
    };
    datetime::arith(name, a, b)
}

pub(super) fn add(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    arith(Op::Add, a, b)
}

pub(super) fn sub(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    arith(Op::Sub, a, b)
}

pub(super) fn mul(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    arith(Op::Mul, a, b)
}

pub(super) fn div(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    arith(Op::Div, a, b)
}

/// `%`: integers and numerics only (Postgres has no float modulo).
pub(super) fn modulo(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    if let (Some((x, wx)), Some((y, wy))) = (int_of(&a), int_of(&b)) {
        if y == 0 {
            return Err(EvalError::DivisionByZero);
        }
        // i128 cannot overflow here (i64::MIN % -1 is 0, as Postgres returns).
        return int_datum(x as i128 % y as i128, wx.max(wy));
    }
    match (&a, &b) {
        (Datum::Numeric(_) | Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_), _)
            if !is_float(&b) && is_number(&b) =>
        {
            let (x, y) = (to_decimal(&a)?, to_decimal(&b)?);
            Ok(Datum::Numeric(x.checked_rem(y)?))
        }
        _ => Err(unexpected("%", &[a, b])),
    }
}

pub(super) fn neg(a: Datum) -> Result<Datum, EvalError> {
    Ok(match a {
        Datum::Int16(v) => Datum::Int16(
            v.checked_neg()
                .ok_or_else(|| EvalError::OutOfRange("smallint".into()))?,
        ),
        Datum::Int32(v) => Datum::Int32(
            v.checked_neg()
                .ok_or_else(|| EvalError::OutOfRange("integer".into()))?,
        ),
        Datum::Int64(v) => Datum::Int64(
            v.checked_neg()
                .ok_or_else(|| EvalError::OutOfRange("bigint".into()))?,
        ),
        Datum::Float32(v) => Datum::Float32(eddy_repr::OrdF32(-v.0)),
        Datum::Float64(v) => Datum::Float64(eddy_repr::OrdF64(-v.0)),
        Datum::Numeric(v) => Datum::Numeric(-v),
        Datum::Interval(iv) => Datum::Interval(datetime::neg_interval(&iv)?),
        other => return Err(unexpected("-", &[other])),
    })
}

pub(super) fn abs(a: Datum) -> Result<Datum, EvalError> {
    Ok(match a {
        Datum::Int16(v) => Datum::Int16(
            v.checked_abs()
                .ok_or_else(|| EvalError::OutOfRange("smallint".into()))?,
        ),
        Datum::Int32(v) => Datum::Int32(
            v.checked_abs()
                .ok_or_else(|| EvalError::OutOfRange("integer".into()))?,
        ),
        Datum::Int64(v) => Datum::Int64(
            v.checked_abs()
                .ok_or_else(|| EvalError::OutOfRange("bigint".into()))?,
        ),
        Datum::Float32(v) => Datum::Float32(eddy_repr::OrdF32(v.0.abs())),
        Datum::Float64(v) => Datum::Float64(eddy_repr::OrdF64(v.0.abs())),
        Datum::Numeric(v) => Datum::Numeric(v.abs()),
        other => return Err(unexpected("abs", &[other])),
    })
}

// ---------------------------------------------------------------------------------
// Rounding
// ---------------------------------------------------------------------------------

fn map_float(
    a: Datum,
    name: &str,
    f32f: fn(f32) -> f32,
    f64f: fn(f64) -> f64,
) -> Result<Datum, EvalError> {
    Ok(match a {
        Datum::Float32(v) => Datum::Float32(eddy_repr::OrdF32(f32f(v.0))),
        Datum::Float64(v) => Datum::Float64(eddy_repr::OrdF64(f64f(v.0))),
        other => return Err(unexpected(name, &[other])),
    })
}

pub(super) fn floor(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => Ok(Datum::Numeric(v.floor()?)),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => Ok(a),
        other => map_float(other, "floor", f32::floor, f64::floor),
    }
}

pub(super) fn ceil(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => Ok(Datum::Numeric(v.ceil()?)),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => Ok(a),
        other => map_float(other, "ceil", f32::ceil, f64::ceil),
    }
}

/// `round(x)`: numerics half away from zero, floats half to even (`rint`).
pub(super) fn round(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => Ok(Datum::Numeric(v.with_scale(0)?)),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => Ok(a),
        other => map_float(other, "round", f32::round_ties_even, f64::round_ties_even),
    }
}

/// `round(numeric, digits)`: half away from zero to `digits` places; a negative
/// `digits` rounds to tens, hundreds, ... with scale 0.
pub(super) fn round_to(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let digits = match int_of(&b) {
        Some((n, _)) => n,
        None => return Err(unexpected("round", &[a, b])),
    };
    let v = match &a {
        Datum::Numeric(_) | Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => to_decimal(&a)?,
        _ => return Err(unexpected("round", &[a, b])),
    };
    if digits >= 0 {
        return Ok(Datum::Numeric(with_scale(v, digits)?));
    }
    let k = digits.unsigned_abs();
    if k > u64::from(NUMERIC_MAX_PRECISION) {
        // 10^39 / 2 exceeds every numeric we hold: everything rounds to 0.
        return Ok(Datum::Numeric(if v.is_nan() { v } else { Numeric::ZERO }));
    }
    let unit = power_of_ten(k as u32)?;
    let q = v.div_with_scale(unit, 0)?;
    Ok(Datum::Numeric(q.checked_mul(unit)?))
}

/// `10^k` for `k <= 38`, scale 0.
fn power_of_ten(k: u32) -> Result<Numeric, EvalError> {
    Ok(Numeric::from_parts(false, 10u128.pow(k), 0)?)
}

fn negative_sqrt() -> EvalError {
    EvalError::InvalidArgumentForPowerFunction(
        "cannot take square root of a negative number".into(),
    )
}

/// `sqrt`: floats in IEEE; numerics with Postgres' result scale (16 significant digits,
/// at least the input's scale).
pub(super) fn sqrt(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => {
            if v.is_nan() {
                return Ok(Datum::Numeric(v));
            }
            if v.is_negative() {
                return Err(negative_sqrt());
            }
            let (weight, _) = v.nbase_weight();
            let sweight = weight * 2 + 1;
            let rscale = result_scale(NUMERIC_MIN_SIG_DIGITS - sweight, &[&v]);
            Ok(Datum::Numeric(v.sqrt_with_scale(rscale)?))
        }
        Datum::Float32(_)
        | Datum::Float64(_)
        | Datum::Int16(_)
        | Datum::Int32(_)
        | Datum::Int64(_) => {
            let x = to_f64(&a)?;
            if x < 0.0 {
                return Err(negative_sqrt());
            }
            Ok(Datum::Float64(eddy_repr::OrdF64(x.sqrt())))
        }
        other => Err(unexpected("sqrt", &[other])),
    }
}

/// A math result's scale: `rscale`, but no less than any argument's display scale,
/// and within `0..=NUMERIC_MAX_SCALE`.
fn result_scale(rscale: i64, args: &[&Numeric]) -> u32 {
    args.iter()
        .map(|a| i64::from(a.scale()))
        .fold(rscale, i64::max)
        .clamp(0, i64::from(NUMERIC_MAX_SCALE)) as u32
}

fn zero_to_negative_power() -> EvalError {
    EvalError::InvalidArgumentForPowerFunction(
        "zero raised to a negative power is undefined".into(),
    )
}

fn negative_to_fractional_power() -> EvalError {
    EvalError::InvalidArgumentForPowerFunction(
        "a negative number raised to a non-integer power yields a complex result".into(),
    )
}

/// `power(x, y)` on floats (Postgres' `dpow`) or numerics (`power_var`'s scales).
pub(super) fn power(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    if !is_number(&a) || !is_number(&b) {
        return Err(unexpected("power", &[a, b]));
    }
    let numeric = matches!(a, Datum::Numeric(_)) || matches!(b, Datum::Numeric(_));
    if is_float(&a) || is_float(&b) || !numeric {
        // Integers resolve to power(float8, float8), as in Postgres.
        return float_power(to_f64(&a)?, to_f64(&b)?).map(|r| Datum::Float64(eddy_repr::OrdF64(r)));
    }
    numeric_power(to_decimal(&a)?, to_decimal(&b)?).map(Datum::Numeric)
}

fn float_power(x: f64, y: f64) -> Result<f64, EvalError> {
    if x == 0.0 && y < 0.0 {
        return Err(zero_to_negative_power());
    }
    if x < 0.0 && y.floor() != y && y.is_finite() {
        return Err(negative_to_fractional_power());
    }
    if x.is_nan() {
        return Ok(if y == 0.0 { 1.0 } else { f64::NAN });
    }
    if y.is_nan() {
        return Ok(if x == 1.0 { 1.0 } else { f64::NAN });
    }
    if y.is_infinite() && x == -1.0 {
        return Ok(1.0);
    }
    let r = x.powf(y);
    if r.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(EvalError::FloatOverflow);
    }
    if r == 0.0 && x != 0.0 && x.is_finite() && y.is_finite() {
        return Err(EvalError::FloatUnderflow);
    }
    Ok(r)
}

fn numeric_power(x: Numeric, y: Numeric) -> Result<Numeric, EvalError> {
    // As Postgres: NaN ^ 0 and 1 ^ NaN are 1, any other NaN operand gives NaN.
    if x.is_nan() || y.is_nan() {
        let one = (x.is_nan() && y.is_zero()) || (y.is_nan() && x == Numeric::ONE);
        return Ok(if one { Numeric::ONE } else { Numeric::NAN });
    }
    if x.is_zero() && y.is_negative() {
        return Err(zero_to_negative_power());
    }
    let y_is_integer = y.trunc_to_scale(0)? == y;
    if y_is_integer {
        // Postgres' power_var_int: scale max(16, scale of x).
        let rscale = result_scale(NUMERIC_MIN_SIG_DIGITS, &[&x]);
        let n = y
            .trunc_to_i128()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or(EvalError::NumericOverflow)?;
        let r = if n == 0 {
            Numeric::ONE.with_scale(rscale)?
        } else if x.is_zero() {
            Numeric::ZERO.with_scale(rscale)?
        } else {
            x.powi_with_scale(n, rscale)?
        };
        return Ok(r);
    }
    if x.is_negative() {
        return Err(negative_to_fractional_power());
    }
    if x.is_zero() {
        return with_scale(Numeric::ZERO, NUMERIC_MIN_SIG_DIGITS);
    }
    // Postgres estimates the result's decimal weight from a low-precision
    // ln(x) * y (about 8 significant digits) and keeps 16 significant digits.
    let ln_x = ln_estimate(&x);
    let ln_dweight = if ln_x == 0.0 {
        0
    } else {
        ln_x.abs().log10().floor() as i32
    };
    let local = 10f64.powi(8 - ln_dweight);
    let ln_num = ((ln_x * local).round() / local * numeric_to_f64(&y) * local).round() / local;
    let val = ln_num * std::f64::consts::LOG10_E;
    let rscale = result_scale(NUMERIC_MIN_SIG_DIGITS - val as i64, &[&x, &y]);
    Ok(x.pow_with_scale(y, rscale)?)
}

// ---------------------------------------------------------------------------------
// Exponentials, logarithms, sign and truncation
// ---------------------------------------------------------------------------------

fn log_of_zero() -> EvalError {
    EvalError::InvalidArgumentForLogarithm("cannot take logarithm of zero".into())
}

fn log_of_negative() -> EvalError {
    EvalError::InvalidArgumentForLogarithm("cannot take logarithm of a negative number".into())
}

/// A float result checked as Postgres checks math results: infinity from a finite
/// argument overflows, zero from a nonzero one underflows (when `check_zero`).
fn checked_float(r: f64, x: f64, check_zero: bool) -> Result<Datum, EvalError> {
    if r.is_infinite() && x.is_finite() {
        return Err(EvalError::FloatOverflow);
    }
    if check_zero && r == 0.0 && x.is_finite() {
        return Err(EvalError::FloatUnderflow);
    }
    Ok(Datum::Float64(eddy_repr::OrdF64(r)))
}

/// Postgres' `estimate_ln_dweight`: the decimal weight of `ln(x)` for `x > 0`, from
/// `x - 1` near 1 and from a double-precision logarithm elsewhere.
fn ln_dweight(x: &Numeric) -> i64 {
    let tenth = |n| Numeric::from_parts(false, n, 1).expect("a small numeric");
    let near_one = tenth(9) <= *x && *x <= tenth(11);
    if near_one {
        let d = x.checked_sub(Numeric::ONE).unwrap_or(Numeric::ZERO);
        if d.is_zero() {
            return 0;
        }
        return log10_estimate(&d).floor() as i64;
    }
    let ln = ln_estimate(x);
    if ln == 0.0 {
        0
    } else {
        ln.abs().log10().trunc() as i64
    }
}

/// `log10(|x|)` in double precision from the digits and the scale, so it stays finite
/// for numerics beyond a double's range (`1e-1000`); `x` is not zero.
fn log10_estimate(x: &Numeric) -> f64 {
    (x.coefficient() as f64).log10() - f64::from(x.scale())
}

/// `ln(|x|)` in double precision, as [`log10_estimate`].
fn ln_estimate(x: &Numeric) -> f64 {
    log10_estimate(x) * std::f64::consts::LN_10
}

/// Postgres' errors for the logarithm of zero and of negatives.
fn check_log_argument(x: &Numeric) -> Result<(), EvalError> {
    if x.is_zero() {
        return Err(log_of_zero());
    }
    if x.is_negative() {
        return Err(log_of_negative());
    }
    Ok(())
}

/// `exp(x)`: floats as `dexp`; numerics with 16 significant digits (Postgres'
/// `numeric_exp` scale: at least the argument's).
pub(super) fn exp(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => {
            if v.is_nan() {
                return Ok(Datum::Numeric(v));
            }
            let weight = (numeric_to_f64(&v) * std::f64::consts::LOG10_E).clamp(-2000.0, 2000.0);
            let rscale = result_scale(NUMERIC_MIN_SIG_DIGITS - weight as i64, &[&v]);
            Ok(Datum::Numeric(v.exp_with_scale(rscale)?))
        }
        other => {
            let x = to_f64(&other)?;
            let r = if x == f64::NEG_INFINITY { 0.0 } else { x.exp() };
            checked_float(r, x, true)
        }
    }
}

/// `ln(x)`: floats as `dlog1`; numerics with Postgres' `numeric_ln` scale.
pub(super) fn ln(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => {
            if v.is_nan() {
                return Ok(Datum::Numeric(v));
            }
            check_log_argument(&v)?;
            let rscale = result_scale(NUMERIC_MIN_SIG_DIGITS - ln_dweight(&v), &[&v]);
            Ok(Datum::Numeric(v.ln_with_scale(rscale)?))
        }
        other => float_log(&other, f64::ln),
    }
}

fn float_log(a: &Datum, f: fn(f64) -> f64) -> Result<Datum, EvalError> {
    let x = to_f64(a)?;
    if x == 0.0 {
        return Err(log_of_zero());
    }
    if x < 0.0 {
        return Err(log_of_negative());
    }
    checked_float(f(x), x, false)
}

/// `log(x)` / `log10(x)`: floats as `dlog10`; numerics as `log(10, x)`.
pub(super) fn log10(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => log(Datum::Numeric(Numeric::from(10)), Datum::Numeric(v)),
        other => float_log(&other, f64::log10),
    }
}

/// `log(base, x)` on numerics: `ln(x) / ln(base)` with Postgres' `numeric_log` scale
/// (16 significant digits, at least either argument's scale); base 1 divides by zero.
pub(super) fn log(base: Datum, x: Datum) -> Result<Datum, EvalError> {
    let (b, v) = (to_decimal(&base)?, to_decimal(&x)?);
    if b.is_nan() || v.is_nan() {
        return Ok(Datum::Numeric(Numeric::NAN));
    }
    check_log_argument(&b)?;
    check_log_argument(&v)?;
    if b == Numeric::ONE {
        return Err(EvalError::DivisionByZero);
    }
    let rscale = result_scale(
        NUMERIC_MIN_SIG_DIGITS - (ln_dweight(&v) - ln_dweight(&b)),
        &[&b, &v],
    );
    Ok(Datum::Numeric(v.log_with_scale(b, rscale)?))
}

/// `sign(x)`: -1, 0 or 1 (numerics with scale 0; a float NaN is 0, as in `dsign`).
pub(super) fn sign(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => Ok(Datum::Numeric(if v.is_nan() {
            v
        } else if v.is_zero() {
            Numeric::ZERO
        } else if v.is_negative() {
            Numeric::from(-1)
        } else {
            Numeric::ONE
        })),
        other => {
            let x = to_f64(&other)?;
            let s = if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            };
            Ok(Datum::Float64(eddy_repr::OrdF64(s)))
        }
    }
}

/// `trunc(x)`: towards zero (numerics with scale 0).
pub(super) fn trunc(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => Ok(Datum::Numeric(v.trunc_to_scale(0)?)),
        other => Ok(Datum::Float64(eddy_repr::OrdF64(to_f64(&other)?.trunc()))),
    }
}

/// `trunc(numeric, digits)`: towards zero at `digits` places, padded to that scale; a
/// negative `digits` zeroes tens, hundreds, ... with scale 0.
pub(super) fn trunc_to(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let digits = match int_of(&b) {
        Some((n, _)) => n,
        None => return Err(unexpected("trunc", &[a, b])),
    };
    let v = to_decimal(&a)?;
    if digits >= 0 {
        let scale = digits.min(i64::from(NUMERIC_MAX_SCALE)) as u32;
        return Ok(Datum::Numeric(v.trunc_to_scale(scale)?));
    }
    let k = digits.unsigned_abs();
    if k > u64::from(NUMERIC_MAX_PRECISION) {
        return Ok(Datum::Numeric(if v.is_nan() { v } else { Numeric::ZERO }));
    }
    let unit = power_of_ten(k as u32)?;
    let q = v.div_trunc(unit)?;
    Ok(Datum::Numeric(q.checked_mul(unit)?))
}

/// `cbrt(double precision)`.
pub(super) fn cbrt(a: Datum) -> Result<Datum, EvalError> {
    let x = to_f64(&a)?;
    checked_float(x.cbrt(), x, false)
}

/// `div(a, b)` on numerics: the quotient truncated towards zero, scale 0.
pub(super) fn div_trunc(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let (x, y) = (to_decimal(&a)?, to_decimal(&b)?);
    Ok(Datum::Numeric(x.div_trunc(y)?))
}

/// `&`, `|`, `#` on two integers of one type; `<<` and `>>` of an integer by an
/// `integer` count, which wraps as Postgres' C shifts do on the machines it runs on (a
/// smallint is shifted as an integer, then cut to 16 bits).
pub(super) fn bitwise(func: &BinaryFunc, a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let logical = |x: i64, y: i64| match func {
        BinaryFunc::BitAnd => Some(x & y),
        BinaryFunc::BitOr => Some(x | y),
        BinaryFunc::BitXor => Some(x ^ y),
        _ => None,
    };
    let shifted = |x: i64, bits: u32| match (func, &b) {
        (BinaryFunc::ShiftLeft, Datum::Int32(n)) => Some(if bits == 64 {
            x.wrapping_shl(*n as u32)
        } else {
            i64::from((x as i32).wrapping_shl(*n as u32))
        }),
        (BinaryFunc::ShiftRight, Datum::Int32(n)) => Some(if bits == 64 {
            x.wrapping_shr(*n as u32)
        } else {
            i64::from((x as i32).wrapping_shr(*n as u32))
        }),
        _ => None,
    };
    let is_shift = matches!(func, BinaryFunc::ShiftLeft | BinaryFunc::ShiftRight);
    let result = match (&a, &b) {
        (Datum::Int16(x), _) if is_shift => {
            shifted(i64::from(*x), 16).map(|v| Datum::Int16(v as i16))
        }
        (Datum::Int32(x), _) if is_shift => {
            shifted(i64::from(*x), 32).map(|v| Datum::Int32(v as i32))
        }
        (Datum::Int64(x), _) if is_shift => shifted(*x, 64).map(Datum::Int64),
        (Datum::Int16(x), Datum::Int16(y)) => {
            logical(i64::from(*x), i64::from(*y)).map(|v| Datum::Int16(v as i16))
        }
        (Datum::Int32(x), Datum::Int32(y)) => {
            logical(i64::from(*x), i64::from(*y)).map(|v| Datum::Int32(v as i32))
        }
        (Datum::Int64(x), Datum::Int64(y)) => logical(*x, *y).map(Datum::Int64),
        _ => None,
    };
    result.ok_or_else(|| unexpected("bitwise operator", &[a, b]))
}
