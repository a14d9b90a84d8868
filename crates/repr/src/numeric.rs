//! [`Numeric`]: Postgres' `numeric`, as far as Eddy holds it.
//!
//! A numeric is either `NaN` or a finite decimal `±coefficient × 10^-scale`, where the
//! scale is Postgres' *display scale*: `1.50` keeps its two fractional digits, and
//! every operation gives the scale Postgres gives (`+` the larger scale, `*` the sum of
//! scales, `/` that of `select_div_scale`).
//!
//! Limits (documented in README.md): the coefficient is an unsigned 128-bit integer, so
//! every number of up to [`NUMERIC_MAX_PRECISION`] (38) digits in total — before and
//! after the point — is held exactly, and the scale is at most [`NUMERIC_MAX_SCALE`].
//! A result beyond that is [`NumericError::Overflow`] (`value overflows numeric
//! format`, 22003), never a silently rounded value. `Infinity` is not supported.
//!
//! Invariants, kept by every constructor and operation:
//! - the scale is `0..=NUMERIC_MAX_SCALE` (no positive exponent);
//! - zero is never negative;
//! - NaN is one value: it equals itself and sorts above every number, as in Postgres;
//! - equality, order and hashing are by value (`1.5 == 1.50`); the display scale only
//!   shows in text, on the wire and in [`Numeric::scale`].
//!
//! The arithmetic is `fastnum`'s fixed-size decimals (`D128`, 38-39 digits, no heap),
//! with 77-digit `D256` for division, roots and logarithms before rounding to the
//! result's scale. The crate stays behind this type: no other crate names it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use fastnum::bint::UInt;
use fastnum::decimal::{Context, Decimal, RoundingMode, Sign};
use fastnum::{D128, D256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Every number of up to this many digits (integer and fractional together) is held
/// exactly; some of 39 digits are too (those whose digits are below 2^128).
pub const NUMERIC_MAX_PRECISION: u32 = 38;

/// The largest display scale, as Postgres bounds `numeric(p, s)` and function results
/// (`NUMERIC_MAX_DISPLAY_SCALE`).
pub const NUMERIC_MAX_SCALE: u32 = 1000;

/// Postgres' minimum number of significant digits in division and math results.
pub const NUMERIC_MIN_SIG_DIGITS: i64 = 16;

/// Arithmetic context: round half away from zero (Postgres' rule), and never trap:
/// every signal is checked by [`Numeric::checked`] instead of panicking.
const CTX: Context = Context::default()
    .without_traps()
    .with_rounding_mode(RoundingMode::HalfUp);

/// Why a numeric operation has no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumericError {
    /// The exact result needs more digits (or a larger scale) than a numeric holds.
    #[error("value overflows numeric format")]
    Overflow,
    #[error("division by zero")]
    DivisionByZero,
}

/// A Postgres `numeric` (see the module docs for its limits and invariants).
#[derive(Clone, Copy)]
pub struct Numeric(D128);

impl Numeric {
    pub const ZERO: Numeric = Numeric(D128::ZERO.with_ctx(CTX));
    pub const ONE: Numeric = Numeric(D128::ONE.with_ctx(CTX));
    pub const NAN: Numeric = Numeric(D128::NAN.with_ctx(CTX));

    /// `±coefficient × 10^-scale`; `Overflow` if the scale is above
    /// [`NUMERIC_MAX_SCALE`].
    pub fn from_parts(
        negative: bool,
        coefficient: u128,
        scale: u32,
    ) -> Result<Numeric, NumericError> {
        if scale > NUMERIC_MAX_SCALE {
            return Err(NumericError::Overflow);
        }
        let digits = UInt::<2>::from_u128(coefficient).map_err(|_| NumericError::Overflow)?;
        let sign = if negative && coefficient != 0 {
            Sign::Minus
        } else {
            Sign::Plus
        };
        Ok(Numeric(D128::from_parts(
            digits,
            -(scale as i32),
            sign,
            CTX,
        )))
    }

    /// The number whose plain digits are `int_digits` before the point and
    /// `frac_digits` after it (ASCII digits only); the scale is `frac_digits.len()`.
    pub fn from_digits(
        negative: bool,
        int_digits: &str,
        frac_digits: &str,
    ) -> Result<Numeric, NumericError> {
        let scale = u32::try_from(frac_digits.len()).map_err(|_| NumericError::Overflow)?;
        let mut coefficient: u128 = 0;
        for b in int_digits.bytes().chain(frac_digits.bytes()) {
            debug_assert!(b.is_ascii_digit());
            coefficient = coefficient
                .checked_mul(10)
                .and_then(|c| c.checked_add(u128::from(b - b'0')))
                .ok_or(NumericError::Overflow)?;
        }
        Numeric::from_parts(negative, coefficient, scale)
    }

    pub fn is_nan(&self) -> bool {
        self.0.is_nan()
    }

    pub fn is_zero(&self) -> bool {
        !self.is_nan() && self.0.is_zero()
    }

    /// Below zero (never for zero or NaN).
    pub fn is_negative(&self) -> bool {
        !self.is_nan() && !self.0.is_zero() && self.0.is_sign_negative()
    }

    /// The display scale (0 for NaN).
    pub fn scale(&self) -> u32 {
        if self.is_nan() {
            0
        } else {
            self.0.fractional_digits_count() as u32
        }
    }

    /// The digits without point or sign (0 for NaN).
    pub fn coefficient(&self) -> u128 {
        if self.is_nan() {
            0
        } else {
            self.0
                .digits()
                .to_u128()
                .expect("a D128's digits fit in u128")
        }
    }

    /// Checks a fastnum result against the invariants: NaN stays NaN; a rounded,
    /// infinite or overflowed result is `Overflow`; a positive exponent is written out
    /// as scale 0; the result is rebuilt so it carries no signals.
    fn checked<const N: usize>(d: Decimal<N>) -> Result<Numeric, NumericError> {
        if d.is_nan() {
            return Ok(Numeric::NAN);
        }
        if d.is_infinite() || !d.is_op_ok() || !d.op_signals().is_empty() {
            return Err(NumericError::Overflow);
        }
        let mut d = d;
        if d.fractional_digits_count() < 0 {
            d = d.rescale(0);
            if !d.op_signals().is_empty() {
                return Err(NumericError::Overflow);
            }
        }
        let coefficient = d.digits().to_u128().map_err(|_| NumericError::Overflow)?;
        Numeric::from_parts(
            d.is_sign_negative(),
            coefficient,
            d.fractional_digits_count() as u32,
        )
    }

    /// A deliberately rounded result (whose signals say so) made a clean numeric.
    fn rounded<const N: usize>(d: Decimal<N>) -> Result<Numeric, NumericError> {
        if d.is_nan() {
            return Ok(Numeric::NAN);
        }
        if d.is_infinite() || d.fractional_digits_count() < 0 {
            return Err(NumericError::Overflow);
        }
        let coefficient = d.digits().to_u128().map_err(|_| NumericError::Overflow)?;
        Numeric::from_parts(
            d.is_sign_negative(),
            coefficient,
            d.fractional_digits_count() as u32,
        )
    }

    /// The same value as a 77-digit decimal, for intermediate results.
    fn wide(&self) -> D256 {
        if self.is_nan() {
            return D256::NAN.with_ctx(CTX);
        }
        let digits = UInt::<4>::from_u128(self.coefficient()).expect("u128 fits 256 bits");
        let sign = if self.is_negative() {
            Sign::Minus
        } else {
            Sign::Plus
        };
        D256::from_parts(digits, -(self.scale() as i32), sign, CTX)
    }

    /// `a + b` with scale `max(sa, sb)`; NaN if either is NaN.
    pub fn checked_add(self, other: Numeric) -> Result<Numeric, NumericError> {
        Numeric::checked(self.0 + other.0)
    }

    /// `a - b` with scale `max(sa, sb)`.
    pub fn checked_sub(self, other: Numeric) -> Result<Numeric, NumericError> {
        Numeric::checked(self.0 - other.0)
    }

    /// `a * b` with scale `sa + sb`, exact.
    pub fn checked_mul(self, other: Numeric) -> Result<Numeric, NumericError> {
        Numeric::checked(self.0 * other.0)
    }

    /// `a / b` rounded (half away from zero) to `scale` fractional digits. NaN if either
    /// is NaN (even over zero, as Postgres has it).
    pub fn div_with_scale(self, other: Numeric, scale: u32) -> Result<Numeric, NumericError> {
        if self.is_nan() || other.is_nan() {
            return Ok(Numeric::NAN);
        }
        if other.is_zero() {
            return Err(NumericError::DivisionByZero);
        }
        let q = self.wide() / other.wide();
        Numeric::from_wide(q, scale)
    }

    /// `a / b` with Postgres' result scale (`select_div_scale`): `1/3` is
    /// `0.33333333333333333333`, `10/4` is `2.5000000000000000`.
    pub fn checked_div(self, other: Numeric) -> Result<Numeric, NumericError> {
        if self.is_nan() || other.is_nan() {
            return Ok(Numeric::NAN);
        }
        if other.is_zero() {
            return Err(NumericError::DivisionByZero);
        }
        let scale = div_scale(&self, &other);
        self.div_with_scale(other, scale)
    }

    /// `a / b` truncated towards zero, scale 0 (Postgres' `div`).
    pub fn div_trunc(self, other: Numeric) -> Result<Numeric, NumericError> {
        if self.is_nan() || other.is_nan() {
            return Ok(Numeric::NAN);
        }
        if other.is_zero() {
            return Err(NumericError::DivisionByZero);
        }
        let q = (self.wide() / other.wide())
            .with_rounding_mode(RoundingMode::Down)
            .rescale(0);
        Numeric::rounded(q.with_rounding_mode(RoundingMode::HalfUp))
    }

    /// `a % b` with the dividend's sign and scale `max(sa, sb)`.
    pub fn checked_rem(self, other: Numeric) -> Result<Numeric, NumericError> {
        if self.is_nan() || other.is_nan() {
            return Ok(Numeric::NAN);
        }
        if other.is_zero() {
            return Err(NumericError::DivisionByZero);
        }
        let q = self.div_trunc(other)?;
        let r = Numeric::checked(self.wide() - q.wide() * other.wide())?;
        r.with_scale(self.scale().max(other.scale()))
    }

    /// The value with exactly `scale` fractional digits: rounded half away from zero,
    /// or padded with zeros.
    pub fn with_scale(self, scale: u32) -> Result<Numeric, NumericError> {
        self.rescale_with(scale, RoundingMode::HalfUp)
    }

    /// The value cut (towards zero) or padded to exactly `scale` fractional digits.
    pub fn trunc_to_scale(self, scale: u32) -> Result<Numeric, NumericError> {
        self.rescale_with(scale, RoundingMode::Down)
    }

    /// The largest integer not above the value (scale 0).
    pub fn floor(self) -> Result<Numeric, NumericError> {
        // Cut, then step down if a negative number lost a fraction. (fastnum's
        // `Floor` rounding looks at the first dropped digit only.)
        let t = self.trunc_to_scale(0)?;
        if self.is_negative() && t != self {
            return t.checked_sub(Numeric::ONE);
        }
        Ok(t)
    }

    /// The smallest integer not below the value (scale 0).
    pub fn ceil(self) -> Result<Numeric, NumericError> {
        let t = self.trunc_to_scale(0)?;
        if !self.is_negative() && !self.is_nan() && t != self {
            return t.checked_add(Numeric::ONE);
        }
        Ok(t)
    }

    fn rescale_with(self, scale: u32, mode: RoundingMode) -> Result<Numeric, NumericError> {
        if self.is_nan() {
            return Ok(self);
        }
        if scale > NUMERIC_MAX_SCALE {
            return Err(NumericError::Overflow);
        }
        if scale == self.scale() {
            return Ok(self);
        }
        if scale > self.scale() {
            // Padding is exact or does not fit.
            return Numeric::checked(self.wide().rescale(scale as i16));
        }
        let r = self.0.with_rounding_mode(mode).rescale(scale as i16);
        Numeric::rounded(r)
    }

    /// A 77-digit intermediate result rounded (half away from zero) to `scale`.
    fn from_wide(d: D256, scale: u32) -> Result<Numeric, NumericError> {
        if d.is_nan() {
            return Ok(Numeric::NAN);
        }
        if d.is_infinite() || scale > NUMERIC_MAX_SCALE {
            return Err(NumericError::Overflow);
        }
        let r = d.rescale(scale as i16);
        if r.fractional_digits_count() != scale as i16 {
            return Err(NumericError::Overflow);
        }
        Numeric::rounded(r)
    }

    pub fn abs(self) -> Numeric {
        if self.is_negative() {
            -self
        } else {
            self
        }
    }

    /// `sqrt` with `scale` fractional digits; the caller checks the sign.
    pub fn sqrt_with_scale(self, scale: u32) -> Result<Numeric, NumericError> {
        if self.is_zero() {
            return Numeric::ZERO.with_scale(scale);
        }
        Numeric::from_wide(self.wide().sqrt(), scale)
    }

    /// `e^x` with `scale` fractional digits.
    pub fn exp_with_scale(self, scale: u32) -> Result<Numeric, NumericError> {
        Numeric::from_wide(self.wide().exp(), scale)
    }

    /// `ln(x)` for `x > 0` with `scale` fractional digits; the caller checks the sign.
    pub fn ln_with_scale(self, scale: u32) -> Result<Numeric, NumericError> {
        Numeric::from_wide(self.wide().ln(), scale)
    }

    /// `ln(x) / ln(base)` with `scale` fractional digits; the caller checks that both
    /// are positive and the base is not 1.
    pub fn log_with_scale(self, base: Numeric, scale: u32) -> Result<Numeric, NumericError> {
        Numeric::from_wide(self.wide().ln() / base.wide().ln(), scale)
    }

    /// `x^n` for an integer `n` with `scale` fractional digits (exact when it fits).
    pub fn powi_with_scale(self, n: i32, scale: u32) -> Result<Numeric, NumericError> {
        if self.is_nan() {
            return Ok(self);
        }
        // fastnum's own negative powers divide by a constant that traps, so the
        // reciprocal is taken here.
        let p = self.wide().powi(
            n.unsigned_abs()
                .try_into()
                .map_err(|_| NumericError::Overflow)?,
        );
        if p.is_nan() || p.is_infinite() || p.is_op_overflow() || p.is_zero() {
            return Err(NumericError::Overflow);
        }
        let r = if n < 0 {
            D256::ONE.with_ctx(CTX) / p
        } else {
            p
        };
        Numeric::from_wide(r, scale)
    }

    /// `x^y` for `x > 0` with `scale` fractional digits.
    pub fn pow_with_scale(self, y: Numeric, scale: u32) -> Result<Numeric, NumericError> {
        let r = self.wide().pow(y.wide());
        if r.is_op_overflow() || r.is_infinite() {
            return Err(NumericError::Overflow);
        }
        Numeric::from_wide(r, scale)
    }

    /// The coefficient and scale without trailing fractional zeros.
    fn normalized_parts(&self) -> (u128, u32) {
        let (mut c, mut s) = (self.coefficient(), self.scale());
        while s > 0 && c % 10 == 0 {
            c /= 10;
            s -= 1;
        }
        (c, s)
    }

    /// The same value without trailing fractional zeros (`1.50` is `1.5`, `2.00` is
    /// `2`): equal values normalize to one representation, for keys.
    pub fn normalize(self) -> Numeric {
        if self.is_nan() {
            return self;
        }
        let (c, s) = self.normalized_parts();
        Numeric::from_parts(self.is_negative(), c, s).expect("fewer digits fit")
    }

    /// The coefficient's high and low 64 bits, signed, for [`sum_of_parts`] (zeros
    /// for NaN).
    pub fn split(&self) -> (i128, i128) {
        let c = self.coefficient();
        let (high, low) = ((c >> 64) as i128, (c & u128::from(u64::MAX)) as i128);
        if self.is_negative() {
            (-high, -low)
        } else {
            (high, low)
        }
    }

    /// The integer part as `i128` (towards zero); `None` for NaN or out of range.
    pub fn trunc_to_i128(&self) -> Option<i128> {
        if self.is_nan() {
            return None;
        }
        // A scale above 38 means no integer digits (10^39 > 2^128).
        let int = 10u128
            .checked_pow(self.scale())
            .map_or(0, |unit| self.coefficient() / unit);
        let int = i128::try_from(int).ok()?;
        Some(if self.is_negative() { -int } else { int })
    }

    /// The integer part as `i128` rounded half away from zero; `None` for NaN or out
    /// of range.
    pub fn round_to_i128(&self) -> Option<i128> {
        self.with_scale(0).ok()?.trunc_to_i128()
    }

    /// The nearest `double precision` (through the text, as Postgres'
    /// `numeric_float8`, so it is correctly rounded); NaN for NaN.
    pub fn to_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// The number with scale 0 for `v`.
    pub fn from_i128(v: i128) -> Result<Numeric, NumericError> {
        Numeric::from_parts(v < 0, v.unsigned_abs(), 0)
    }

    /// Postgres' `NBASE` (10000) view of `|self|`: the weight of its first nonzero
    /// base-10000 digit (0 for the units group, -1 for the first four fractional
    /// digits) and that digit's value; `(0, 0)` for zero and NaN.
    pub fn nbase_weight(&self) -> (i64, u32) {
        let c = self.coefficient();
        if c == 0 {
            return (0, 0);
        }
        let scale = i64::from(self.scale());
        // The power of ten of the first digit, and its base-10000 group.
        let exp10 = i64::from(c.ilog10()) - scale;
        let weight = exp10.div_euclid(4);
        // The group's digits: |self| / 10000^weight, below 10000.
        let shift = 4 * weight + scale;
        let group = if shift >= 0 {
            c / 10u128.pow(shift as u32)
        } else {
            c * 10u128.pow((-shift) as u32)
        };
        (weight, group as u32)
    }
}

/// An exact sum kept as integer parts, for accumulations that must retract exactly:
/// each part is `(scale, high, low)`, meaning `(high × 2^64 + low) × 10^-scale`, where
/// `high` and `low` are sums of the high and low 64 bits of coefficients (signed,
/// times their multiplicities). [`Numeric::split`] gives one value's parts.
pub fn sum_of_parts(
    parts: impl IntoIterator<Item = (u32, i128, i128)>,
    scale: u32,
) -> Result<Numeric, NumericError> {
    let signed = |v: i128| {
        let digits = UInt::<4>::from_u128(v.unsigned_abs()).expect("u128 fits 256 bits");
        let sign = if v < 0 { Sign::Minus } else { Sign::Plus };
        D256::from_parts(digits, 0, sign, CTX)
    };
    let two_64 = signed(1 << 64);
    let mut sum = D256::ZERO.with_ctx(CTX);
    for (part_scale, high, low) in parts {
        // At most 2^191 in magnitude: exact in 77 digits.
        let integer = signed(high) * two_64 + signed(low);
        let sign = if integer.is_sign_negative() {
            Sign::Minus
        } else {
            Sign::Plus
        };
        let term = D256::from_parts(integer.digits(), -(part_scale as i32), sign, CTX);
        sum += term;
        if !sum.op_signals().is_empty() {
            return Err(NumericError::Overflow);
        }
    }
    let sum = sum.rescale(scale as i16);
    if !sum.op_signals().is_empty() {
        return Err(NumericError::Overflow);
    }
    Numeric::checked(sum)
}

/// Postgres' `select_div_scale`: enough digits for 16 significant digits in the
/// quotient, and no fewer than either operand's scale.
fn div_scale(a: &Numeric, b: &Numeric) -> u32 {
    let (w1, f1) = a.nbase_weight();
    let (w2, f2) = b.nbase_weight();
    let mut qweight = w1 - w2;
    if f1 <= f2 {
        qweight -= 1;
    }
    let scale = (NUMERIC_MIN_SIG_DIGITS - qweight * 4)
        .max(i64::from(a.scale()))
        .max(i64::from(b.scale()))
        .max(0);
    scale.min(i64::from(NUMERIC_MAX_SCALE)) as u32
}

impl From<i64> for Numeric {
    fn from(v: i64) -> Numeric {
        Numeric::from_parts(v < 0, u128::from(v.unsigned_abs()), 0).expect("an i64 fits")
    }
}

impl From<i32> for Numeric {
    fn from(v: i32) -> Numeric {
        Numeric::from(i64::from(v))
    }
}

impl From<i16> for Numeric {
    fn from(v: i16) -> Numeric {
        Numeric::from(i64::from(v))
    }
}

impl std::ops::Neg for Numeric {
    type Output = Numeric;

    /// `-x`: NaN and zero stay as they are (zero is never negative).
    fn neg(self) -> Numeric {
        if self.is_nan() || self.is_zero() {
            return self;
        }
        Numeric(self.0.neg())
    }
}

impl PartialEq for Numeric {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Numeric {}

impl PartialOrd for Numeric {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Numeric {
    /// By value; NaN equals NaN and sorts above every number.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.is_nan(), other.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => self.0.cmp(&other.0),
        }
    }
}

impl Hash for Numeric {
    /// Hashes the value without trailing fractional zeros, so equal values hash alike.
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.is_nan() {
            return u8::MAX.hash(state);
        }
        let (c, s) = self.normalized_parts();
        (self.is_negative(), c, s).hash(state);
    }
}

impl fmt::Display for Numeric {
    /// `numeric_out`: `NaN`, or the digits with exactly the display scale's fractional
    /// digits (`9.50`, `0.001`), never `-0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_nan() {
            return f.write_str("NaN");
        }
        let digits = self.coefficient().to_string();
        let scale = self.scale() as usize;
        let mut out = String::with_capacity(digits.len() + scale + 3);
        if self.is_negative() {
            out.push('-');
        }
        if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            out.push_str(int);
            if !frac.is_empty() {
                out.push('.');
                out.push_str(frac);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', scale - digits.len()));
            out.push_str(&digits);
        }
        f.write_str(&out)
    }
}

impl fmt::Debug for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Numeric {
    type Err = crate::strconv::ParseError;

    /// `numeric_in` (see [`crate::strconv::parse_numeric`]).
    fn from_str(s: &str) -> Result<Numeric, Self::Err> {
        crate::strconv::parse_numeric(s)
    }
}

impl Serialize for Numeric {
    /// As its text, which is also how `rust_decimal` (Eddy's earlier numeric) was
    /// serialized.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Numeric {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Numeric, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Numeric {
        s.parse().unwrap()
    }

    #[test]
    fn holds_38_digits_exactly() {
        let a = n("12345678901234567890123456789012345678");
        assert_eq!(
            a.checked_add(Numeric::ONE).unwrap().to_string(),
            "12345678901234567890123456789012345679"
        );
        let b = n("1234567890123456789012345678.9012345678");
        assert_eq!(b.to_string(), "1234567890123456789012345678.9012345678");
        assert_eq!(
            n("99999999999999999999999999999999999999").checked_mul(n("10")),
            Err(NumericError::Overflow)
        );
        assert_eq!(
            n("99999999999999999999999999999999999999").checked_add(n("0.5")),
            Err(NumericError::Overflow)
        );
    }

    #[test]
    fn keeps_display_scale() {
        assert_eq!(n("1.50").to_string(), "1.50");
        assert_eq!(n("1.50").checked_add(n("1")).unwrap().to_string(), "2.50");
        assert_eq!(
            n("1.50").checked_mul(n("2.0")).unwrap().to_string(),
            "3.000"
        );
        assert_eq!(n("0.00").checked_sub(n("0")).unwrap().to_string(), "0.00");
        assert_eq!(n("-1.5").checked_add(n("1.5")).unwrap().to_string(), "0.0");
        assert_eq!(n("0.001").to_string(), "0.001");
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("1.50"), n("1.5"));
    }

    #[test]
    fn divides_with_postgres_scale() {
        assert_eq!(
            n("1").checked_div(n("3")).unwrap().to_string(),
            "0.33333333333333333333"
        );
        assert_eq!(
            n("10").checked_div(n("4")).unwrap().to_string(),
            "2.5000000000000000"
        );
        assert_eq!(
            n("2").checked_div(n("3")).unwrap().to_string(),
            "0.66666666666666666667"
        );
        assert_eq!(
            n("-2").checked_div(n("3")).unwrap().to_string(),
            "-0.66666666666666666667"
        );
        assert_eq!(
            n("1").checked_div(n("0")),
            Err(NumericError::DivisionByZero)
        );
        assert!(Numeric::NAN.checked_div(n("0")).unwrap().is_nan());
        assert_eq!(n("7.50").checked_rem(n("2")).unwrap().to_string(), "1.50");
        assert_eq!(n("-7.5").checked_rem(n("2")).unwrap().to_string(), "-1.5");
    }

    #[test]
    fn nan_equals_itself_and_sorts_last() {
        let nan = Numeric::NAN;
        assert_eq!(nan, nan);
        assert!(nan > n("99999999999999999999999999999999999999"));
        assert!(nan.checked_add(n("1")).unwrap().is_nan());
        assert_eq!(nan.to_string(), "NaN");
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(n("2.5").with_scale(0).unwrap().to_string(), "3");
        assert_eq!(n("-2.5").with_scale(0).unwrap().to_string(), "-3");
        assert_eq!(n("-0.4").with_scale(0).unwrap().to_string(), "0");
        assert_eq!(n("1.5").with_scale(3).unwrap().to_string(), "1.500");
        assert_eq!(n("-1.99").trunc_to_scale(1).unwrap().to_string(), "-1.9");
        assert_eq!(n("-1.5").floor().unwrap().to_string(), "-2");
        assert_eq!(n("1.2").ceil().unwrap().to_string(), "2");
        assert_eq!(n("1e-50").ceil().unwrap().to_string(), "1");
        assert_eq!(n("-1e-50").trunc_to_i128(), Some(0));
        assert_eq!(n("1.01").ceil().unwrap().to_string(), "2");
        assert_eq!(n("-1.01").floor().unwrap().to_string(), "-2");
        assert_eq!(n("-1.01").ceil().unwrap().to_string(), "-1");
        assert_eq!(n("0.4999").with_scale(0).unwrap().to_string(), "0");
        assert_eq!(n("2.4999").with_scale(1).unwrap().to_string(), "2.5");
        assert_eq!(n("-0.05").with_scale(1).unwrap().to_string(), "-0.1");
        assert_eq!(n("-0.04").with_scale(1).unwrap().to_string(), "0.0");
    }

    #[test]
    fn sums_of_parts_are_exact_beyond_128_bits() {
        let big = n("340282366920938463463374607431768211455");
        let (h, l) = big.split();
        // big + big - big, over two scales.
        let small = n("-0.25");
        let (sh, sl) = small.split();
        let parts = [(0, 2 * h - h, 2 * l - l), (2, sh, sl)];
        assert_eq!(
            sum_of_parts(parts, 2),
            Err(NumericError::Overflow),
            "39 digits and a scale of 2 do not fit"
        );
        let parts = [
            (0, 3 * h, 3 * l),
            (0, -2 * h, -2 * l),
            (0, -h, -l),
            (2, sh, sl),
        ];
        assert_eq!(sum_of_parts(parts, 2).unwrap().to_string(), "-0.25");
        let m = n("12345678901234567890123456789012345678");
        let (h, l) = m.split();
        assert_eq!(sum_of_parts([(0, h, l)], 0).unwrap(), m);
    }

    /// Serialized as its text, as `rust_decimal` (the earlier numeric) was, so
    /// durable state written before still reads.
    #[test]
    fn serializes_as_text_like_the_earlier_numeric() {
        let bytes = bincode::serialize(&n("-12.50")).unwrap();
        assert_eq!(bytes, bincode::serialize("-12.50").unwrap());
        assert_eq!(
            bincode::deserialize::<Numeric>(&bytes).unwrap().to_string(),
            "-12.50"
        );
        let nan = bincode::serialize(&Numeric::NAN).unwrap();
        assert!(bincode::deserialize::<Numeric>(&nan).unwrap().is_nan());
    }

    #[test]
    fn nbase_weights() {
        assert_eq!(n("0.5").nbase_weight(), (-1, 5000));
        assert_eq!(n("12345").nbase_weight(), (1, 1));
        assert_eq!(n("9999").nbase_weight(), (0, 9999));
        assert_eq!(n("0.00001").nbase_weight(), (-2, 1000));
    }
}
