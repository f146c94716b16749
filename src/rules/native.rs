//! Threshold conditions compiled to native comparisons.
//!
//! Most rules are comparisons of record numbers with params or numbers, joined by
//! `&&` and `||`, and yes/no facts tested with `== true`, `== false` or on their own
//! (every shipped rule is). Running those through Rhai costs a script
//! call per rule; evaluating them as a small tree of `f64` comparisons costs almost
//! nothing. A condition compiles natively only when it is exactly that grammar, with
//! numeric fields only; anything else runs in the Rhai sandbox. The two give the same
//! answer (a property test in `tests/engine.rs` checks the shipped rules against Rhai
//! on generated records), and a rule whose inputs are missing never reaches either.

use super::expr::{Analysis, Root, Tok};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// A value the condition reads: a number, or a yes/no (as 1 or 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand {
    /// Numeric student field in scope slot `i`.
    Slot(usize),
    /// Yes/no student field in scope slot `i` (its number is 1 or 0).
    Flag(usize),
    /// Param `i`.
    Param(usize),
    Const(f64),
    /// `true` or `false`.
    Bool(bool),
}

impl Op {
    /// The same comparison with its two sides swapped (`3 < x` is `x > 3`).
    pub fn flipped(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            Op::Eq | Op::Ne => self,
        }
    }
}

impl Operand {
    fn is_flag(self) -> bool {
        matches!(self, Operand::Flag(_) | Operand::Bool(_))
    }
}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Native {
    Cmp(Operand, Op, Operand),
    All(Vec<Native>),
    Any(Vec<Native>),
}

impl Native {
    /// Evaluate with `slot(i)` and `param(i)` giving the numbers.
    pub fn eval(&self, slot: &impl Fn(usize) -> f64, param: &impl Fn(usize) -> f64) -> bool {
        let val = |o: &Operand| match o {
            Operand::Slot(i) | Operand::Flag(i) => slot(*i),
            Operand::Param(i) => param(*i),
            Operand::Const(c) => *c,
            Operand::Bool(b) => f64::from(u8::from(*b)),
        };
        match self {
            Native::Cmp(a, op, b) => {
                let (a, b) = (val(a), val(b));
                match op {
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                    Op::Gt => a > b,
                    Op::Ge => a >= b,
                    Op::Eq => a == b,
                    Op::Ne => a != b,
                }
            }
            Native::All(xs) => xs.iter().all(|x| x.eval(slot, param)),
            Native::Any(xs) => xs.iter().any(|x| x.eval(slot, param)),
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    a: &'a Analysis,
    pos: usize,
    /// Operand for a path index, when it is a number.
    operand_of: &'a dyn Fn(usize) -> Option<Operand>,
}

impl Parser<'_> {
    fn word(&self, i: usize) -> &str {
        self.a
            .tokens
            .get(i)
            .map_or("", |t| &self.text[t.span.clone()])
    }

    fn or(&mut self) -> Option<Native> {
        let mut parts = vec![self.and()?];
        while self.word(self.pos) == "||" {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Some(if parts.len() == 1 {
            parts.pop()?
        } else {
            Native::Any(parts)
        })
    }

    fn and(&mut self) -> Option<Native> {
        let mut parts = vec![self.atom()?];
        while self.word(self.pos) == "&&" {
            self.pos += 1;
            parts.push(self.atom()?);
        }
        Some(if parts.len() == 1 {
            parts.pop()?
        } else {
            Native::All(parts)
        })
    }

    fn atom(&mut self) -> Option<Native> {
        if self.word(self.pos) == "(" {
            self.pos += 1;
            let inner = self.or()?;
            if self.word(self.pos) != ")" {
                return None;
            }
            self.pos += 1;
            return Some(inner);
        }
        let a = self.operand()?;
        let op = match self.word(self.pos) {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            // A yes/no fact on its own: what follows must end the comparison,
            // which the callers check.
            _ if matches!(a, Operand::Flag(_)) => {
                return Some(Native::Cmp(a, Op::Eq, Operand::Bool(true)));
            }
            _ => return None,
        };
        self.pos += 1;
        let b = self.operand()?;
        // Yes/no values are only tested for equality, and only with each other (Rhai
        // errs on `true < 1` and says `1 == true` is false; such conditions stay there).
        let same_kind = a.is_flag() == b.is_flag();
        let ordered = !matches!(op, Op::Eq | Op::Ne);
        if !same_kind || (ordered && a.is_flag()) {
            return None;
        }
        Some(Native::Cmp(a, op, b))
    }

    fn operand(&mut self) -> Option<Operand> {
        if let Some((k, p)) = self
            .a
            .paths
            .iter()
            .enumerate()
            .find(|(_, p)| p.tokens.start == self.pos)
        {
            self.pos = p.tokens.end;
            return (self.operand_of)(k);
        }
        match self.word(self.pos) {
            "true" | "false" => {
                let b = self.word(self.pos) == "true";
                self.pos += 1;
                return Some(Operand::Bool(b));
            }
            _ => {}
        }
        let negative = self.word(self.pos) == "-";
        if negative {
            self.pos += 1;
        }
        let t = self.a.tokens.get(self.pos)?;
        if t.kind != Tok::Number {
            return None;
        }
        // Only plain decimal numbers; Rhai's other literal forms stay in Rhai.
        let n: f64 = self.word(self.pos).parse().ok()?;
        self.pos += 1;
        Some(Operand::Const(if negative { -n } else { n }))
    }
}

/// Compile the condition natively when it is only threshold comparisons.
/// `operand_of(k)` maps path `k` of the analysis to its operand (`Slot` for a number,
/// `Flag` for a yes/no), or `None` when it is neither.
pub fn compile(
    text: &str,
    a: &Analysis,
    operand_of: &dyn Fn(usize) -> Option<Operand>,
) -> Option<Native> {
    if !a.problems.is_empty()
        || a.paths
            .iter()
            .any(|p| p.root == Root::Student && p.segments.is_empty())
    {
        return None;
    }
    let mut p = Parser {
        text,
        a,
        pos: 0,
        operand_of,
    };
    let n = p.or()?;
    (p.pos == a.tokens.len()).then_some(n)
}
