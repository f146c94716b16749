//! Threshold conditions compiled to native comparisons.
//!
//! Most rules are comparisons of record numbers with params or numbers, joined by
//! `&&` and `||` (every shipped rule is). Running those through Rhai costs a script
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
}

/// A number the condition reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand {
    /// Student field in scope slot `i`.
    Slot(usize),
    /// Param `i`.
    Param(usize),
    Const(f64),
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
            Operand::Slot(i) => slot(*i),
            Operand::Param(i) => param(*i),
            Operand::Const(c) => *c,
        };
        match self {
            Native::Cmp(a, op, b) => {
                let (a, b) = (val(a), val(b));
                match op {
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                    Op::Gt => a > b,
                    Op::Ge => a >= b,
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
            _ => return None,
        };
        self.pos += 1;
        let b = self.operand()?;
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
/// `operand_of(k)` maps path `k` of the analysis to its operand, or `None` when it
/// is not a number.
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
