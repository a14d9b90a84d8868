//! Arithmetic and math functions on `smallint`, `integer`, `bigint`, `real`,
//! `double precision` and `numeric`, as Postgres computes them.
//!
//! - Integers: overflow is `smallint/integer/bigint out of range` (22003) for the wider
//!   operand's type; `/` truncates toward zero; `%` takes the dividend's sign; a zero
//!   divisor is `division by zero` (22012).
//! - Floats: IEEE arithmetic with Postgres' checks: an infinite result from finite
//!   operands is `value out of range: overflow`, a zero result from nonzero operands
//!   `value out of range: underflow`, and dividing by zero is an error, not infinity.
//! - Numerics: `+`/`-` keep the larger scale, `*` the sum of scales, `/` the scale of
//!   Postgres' `select_div_scale` (at least 16 significant digits). Results are exact up
//!   to rust_decimal's 28-29 significant digits; beyond that the scale is reduced
//!   (rounding), and an integer part that does not fit is `numeric field overflow`.

use eddy_repr::Datum;
use rust_decimal::{Decimal, MathematicalOps, RoundingStrategy};

use super::{datetime, normalize_zero, unexpected};
use crate::error::EvalError;
use crate::func::BinaryFunc;

/// Postgres' minimum number of significant digits in division and math results.
const NUMERIC_MIN_SIG_DIGITS: i64 = 16;
/// The largest scale rust_decimal can hold.
const MAX_SCALE: i64 = 28;

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

pub(crate) fn numeric_to_f64(v: &Decimal) -> f64 {
    v.to_string().parse().unwrap_or(f64::NAN)
}

/// An exact number as `numeric`.
pub(crate) fn to_decimal(d: &Datum) -> Result<Decimal, EvalError> {
    Ok(match d {
        Datum::Int16(v) => Decimal::from(*v),
        Datum::Int32(v) => Decimal::from(*v),
        Datum::Int64(v) => Decimal::from(*v),
        Datum::Numeric(v) => *v,
        other => return Err(unexpected("to numeric", std::slice::from_ref(other))),
    })
}

fn numeric_overflow() -> EvalError {
    EvalError::NumericFieldOverflow
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

/// `d` with exactly `scale` fractional digits: rounded half away from zero, or padded
/// with zeros (as far as rust_decimal can hold them).
pub(crate) fn with_scale(d: Decimal, scale: i64) -> Decimal {
    let scale = scale.clamp(0, MAX_SCALE) as u32;
    let mut r = if d.scale() > scale {
        d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero)
    } else {
        d
    };
    if r.scale() < scale {
        r.rescale(scale);
    }
    normalize_zero(r)
}

/// The weight (position in base 10000, 0 for the units group) and value of the first
/// nonzero base-10000 digit of `|d|`, as Postgres' numeric stores it; `(0, 0)` for zero.
fn nbase_weight(d: &Decimal) -> (i64, u32) {
    let m = d.mantissa().unsigned_abs();
    if m == 0 {
        return (0, 0);
    }
    let scale = d.scale() as i64;
    let pad = (4 - scale % 4) % 4;
    // m < 2^96 and pad <= 3, so this stays far below u128::MAX.
    let m = m * 10u128.pow(pad as u32);
    let frac_groups = (scale + pad) / 4;
    let mut group = 0;
    let mut unit: u128 = 1;
    while unit * 10_000 <= m {
        unit *= 10_000;
        group += 1;
    }
    (group - frac_groups, (m / unit) as u32)
}

/// Postgres' `select_div_scale`: enough digits for 16 significant digits in the
/// quotient, and no fewer than either operand's scale.
fn div_scale(a: &Decimal, b: &Decimal) -> i64 {
    let (w1, f1) = nbase_weight(a);
    let (w2, f2) = nbase_weight(b);
    let mut qweight = w1 - w2;
    if f1 <= f2 {
        qweight -= 1;
    }
    (NUMERIC_MIN_SIG_DIGITS - qweight * 4)
        .max(a.scale() as i64)
        .max(b.scale() as i64)
        .max(0)
}

/// `numeric / numeric` with Postgres' result scale (`1/3` is `0.33333333333333333333`,
/// `10/4` is `2.5000000000000000`).
pub fn numeric_div(a: Decimal, b: Decimal) -> Result<Decimal, EvalError> {
    if b.is_zero() {
        return Err(EvalError::DivisionByZero);
    }
    let q = a.checked_div(b).ok_or_else(numeric_overflow)?;
    Ok(with_scale(q, div_scale(&a, &b)))
}

/// Rounds `d` to `numeric(precision, scale)` (half away from zero) and checks that it
/// fits, as Postgres' `apply_typmod` does.
pub fn numeric_with_typmod(d: Decimal, precision: u8, scale: u8) -> Result<Decimal, EvalError> {
    let r = with_scale(d, scale as i64);
    let int_part = r.mantissa().unsigned_abs() / 10u128.pow(r.scale());
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

fn numeric_arith(op: Op, a: Decimal, b: Decimal) -> Result<Decimal, EvalError> {
    let (r, scale) = match op {
        Op::Add => (a.checked_add(b), a.scale().max(b.scale())),
        Op::Sub => (a.checked_sub(b), a.scale().max(b.scale())),
        Op::Mul => (a.checked_mul(b), a.scale() + b.scale()),
        Op::Div => return numeric_div(a, b),
    };
    // rust_decimal drops the scale of a zero result; Postgres keeps it.
    r.map(|r| with_scale(r, scale as i64))
        .ok_or_else(numeric_overflow)
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
            if y.is_zero() {
                return Err(EvalError::DivisionByZero);
            }
            let r = x.checked_rem(y).ok_or_else(numeric_overflow)?;
            Ok(Datum::Numeric(normalize_zero(r)))
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
        Datum::Numeric(v) => Datum::Numeric(normalize_zero(-v)),
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
        Datum::Numeric(v) => Ok(Datum::Numeric(normalize_zero(v.floor()))),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => Ok(a),
        other => map_float(other, "floor", f32::floor, f64::floor),
    }
}

pub(super) fn ceil(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => Ok(Datum::Numeric(normalize_zero(v.ceil()))),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => Ok(a),
        other => map_float(other, "ceil", f32::ceil, f64::ceil),
    }
}

/// `round(x)`: numerics half away from zero, floats half to even (`rint`).
pub(super) fn round(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => Ok(Datum::Numeric(normalize_zero(
            v.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero),
        ))),
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
        return Ok(Datum::Numeric(with_scale(v, digits)));
    }
    let k = digits.unsigned_abs();
    let r = if k > MAX_SCALE as u64 {
        // 10^29 exceeds every numeric we hold; only values >= 5 * 10^28 round up.
        let half = Decimal::from_i128_with_scale(5 * 10i128.pow(28), 0);
        if k == MAX_SCALE as u64 + 1 && v.abs() >= half {
            return Err(numeric_overflow());
        }
        Decimal::ZERO
    } else {
        let unit = Decimal::from_i128_with_scale(10i128.pow(k as u32), 0);
        let q = v
            .checked_div(unit)
            .ok_or_else(numeric_overflow)?
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
        q.checked_mul(unit).ok_or_else(numeric_overflow)?
    };
    Ok(Datum::Numeric(with_scale(r, 0)))
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
            if v.is_sign_negative() && !v.is_zero() {
                return Err(negative_sqrt());
            }
            let (weight, _) = nbase_weight(&v);
            let sweight = weight * 2 + 1;
            let rscale = (NUMERIC_MIN_SIG_DIGITS - sweight)
                .max(v.scale() as i64)
                .max(0);
            let root = if v.is_zero() {
                Decimal::ZERO
            } else {
                v.sqrt().ok_or_else(numeric_overflow)?
            };
            Ok(Datum::Numeric(with_scale(root, rscale)))
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

fn numeric_power(x: Decimal, y: Decimal) -> Result<Decimal, EvalError> {
    if x.is_zero() && y.is_sign_negative() && !y.is_zero() {
        return Err(zero_to_negative_power());
    }
    let y_is_integer = y.fract().is_zero();
    if y_is_integer {
        // Postgres' power_var_int: scale max(16, scale of x).
        let rscale = NUMERIC_MIN_SIG_DIGITS.max(x.scale() as i64);
        let n: i64 = y.trunc().try_into().map_err(|_| numeric_overflow())?;
        let r = if n == 0 {
            Decimal::ONE
        } else if x.is_zero() {
            Decimal::ZERO
        } else {
            x.checked_powi(n).ok_or_else(numeric_overflow)?
        };
        return Ok(with_scale(r, rscale));
    }
    if x.is_sign_negative() && !x.is_zero() {
        return Err(negative_to_fractional_power());
    }
    if x.is_zero() {
        return Ok(with_scale(Decimal::ZERO, NUMERIC_MIN_SIG_DIGITS));
    }
    // Postgres estimates the result's decimal weight from a low-precision
    // ln(x) * y (about 8 significant digits) and keeps 16 significant digits.
    let ln_x = numeric_to_f64(&x).ln();
    let ln_dweight = if ln_x == 0.0 {
        0
    } else {
        ln_x.abs().log10().floor() as i32
    };
    let local = 10f64.powi(8 - ln_dweight);
    let ln_num = ((ln_x * local).round() / local * numeric_to_f64(&y) * local).round() / local;
    let val = ln_num * std::f64::consts::LOG10_E;
    let rscale = (NUMERIC_MIN_SIG_DIGITS - val as i64)
        .max(x.scale() as i64)
        .max(y.scale() as i64)
        .max(0);
    let r = x.checked_powd(y).ok_or_else(numeric_overflow)?;
    Ok(with_scale(r, rscale))
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
fn ln_dweight(x: &Decimal) -> i64 {
    let near_one = Decimal::new(9, 1) <= *x && *x <= Decimal::new(11, 1);
    if near_one {
        let d = *x - Decimal::ONE;
        if d.is_zero() {
            return 0;
        }
        return numeric_to_f64(&d.abs()).log10().floor() as i64;
    }
    let ln = numeric_to_f64(x).ln();
    if ln == 0.0 {
        0
    } else {
        ln.abs().log10().trunc() as i64
    }
}

/// `ln` of a positive numeric with Postgres' errors for zero and negatives.
fn numeric_ln_value(x: &Decimal) -> Result<Decimal, EvalError> {
    if x.is_zero() {
        return Err(log_of_zero());
    }
    if x.is_sign_negative() {
        return Err(log_of_negative());
    }
    x.checked_ln().ok_or_else(numeric_overflow)
}

/// `exp(x)`: floats as `dexp`; numerics with 16 significant digits (Postgres'
/// `numeric_exp` scale: at least the argument's).
pub(super) fn exp(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => {
            let weight = (numeric_to_f64(&v) * std::f64::consts::LOG10_E).clamp(-2000.0, 2000.0);
            let rscale = (NUMERIC_MIN_SIG_DIGITS - weight as i64).max(v.scale() as i64);
            let r = v.checked_exp().ok_or_else(numeric_overflow)?;
            Ok(Datum::Numeric(with_scale(r, rscale)))
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
            let r = numeric_ln_value(&v)?;
            let rscale = (NUMERIC_MIN_SIG_DIGITS - ln_dweight(&v)).max(v.scale() as i64);
            Ok(Datum::Numeric(with_scale(r, rscale)))
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
        Datum::Numeric(v) => log(Datum::Numeric(Decimal::TEN), Datum::Numeric(v)),
        other => float_log(&other, f64::log10),
    }
}

/// `log(base, x)` on numerics: `ln(x) / ln(base)` with Postgres' `numeric_log` scale
/// (16 significant digits, at least either argument's scale); base 1 divides by zero.
pub(super) fn log(base: Datum, x: Datum) -> Result<Datum, EvalError> {
    let (b, v) = (to_decimal(&base)?, to_decimal(&x)?);
    let (ln_b, ln_v) = (numeric_ln_value(&b)?, numeric_ln_value(&v)?);
    if ln_b.is_zero() {
        return Err(EvalError::DivisionByZero);
    }
    let rscale = (NUMERIC_MIN_SIG_DIGITS - (ln_dweight(&v) - ln_dweight(&b)))
        .max(b.scale() as i64)
        .max(v.scale() as i64);
    let r = ln_v.checked_div(ln_b).ok_or_else(numeric_overflow)?;
    Ok(Datum::Numeric(with_scale(r, rscale)))
}

/// `sign(x)`: -1, 0 or 1 (numerics with scale 0; a float NaN is 0, as in `dsign`).
pub(super) fn sign(a: Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Numeric(v) => Ok(Datum::Numeric(if v.is_zero() {
            Decimal::ZERO
        } else if v.is_sign_negative() {
            Decimal::NEGATIVE_ONE
        } else {
            Decimal::ONE
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
        Datum::Numeric(v) => Ok(Datum::Numeric(normalize_zero(v.trunc()))),
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
        let scale = digits.min(MAX_SCALE) as u32;
        let r = v.round_dp_with_strategy(scale, RoundingStrategy::ToZero);
        return Ok(Datum::Numeric(with_scale(r, digits)));
    }
    let k = digits.unsigned_abs();
    if k > MAX_SCALE as u64 {
        return Ok(Datum::Numeric(Decimal::ZERO));
    }
    let unit = Decimal::from_i128_with_scale(10i128.pow(k as u32), 0);
    let q = v.checked_div(unit).ok_or_else(numeric_overflow)?.trunc();
    let r = q.checked_mul(unit).ok_or_else(numeric_overflow)?;
    Ok(Datum::Numeric(with_scale(r, 0)))
}

/// `cbrt(double precision)`.
pub(super) fn cbrt(a: Datum) -> Result<Datum, EvalError> {
    let x = to_f64(&a)?;
    checked_float(x.cbrt(), x, false)
}

/// `div(a, b)` on numerics: the quotient truncated towards zero, scale 0.
pub(super) fn div_trunc(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let (x, y) = (to_decimal(&a)?, to_decimal(&b)?);
    if y.is_zero() {
        return Err(EvalError::DivisionByZero);
    }
    let q = x.checked_div(y).ok_or_else(numeric_overflow)?;
    Ok(Datum::Numeric(normalize_zero(q.trunc())))
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
