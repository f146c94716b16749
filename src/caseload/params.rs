//! Query-string parameters of the caseload reads: each known name at most once,
//! `format` left to the HTTP layer, and every error naming the parameter (with the
//! nearest known name for a misspelt one).

use crate::rules::Domain;

/// Longest text value (a school, rule, intervention or id prefix), in characters.
pub const MAX_VALUE_CHARS: usize = 128;

/// A parameter that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{param}` {problem}")]
pub struct ParamError {
    /// The parameter's name.
    pub param: String,
    pub problem: String,
}

impl ParamError {
    pub fn new(param: impl Into<String>, problem: impl Into<String>) -> ParamError {
        ParamError {
            param: param.into(),
            problem: problem.into(),
        }
    }

    /// "must be one of a, b, c".
    pub fn one_of(param: &str, names: &[&str]) -> ParamError {
        ParamError::new(param, format!("must be one of {}", names.join(", ")))
    }
}

/// The parameters one read accepts.
pub struct Params<'a> {
    known: &'a [&'a str],
}

impl<'a> Params<'a> {
    pub fn new(known: &'a [&'a str]) -> Params<'a> {
        Params { known }
    }

    /// Call `take` with each known pair; refuse unknown and repeated names.
    pub fn each<K: AsRef<str>, V: AsRef<str>>(
        &self,
        pairs: impl IntoIterator<Item = (K, V)>,
        mut take: impl FnMut(&str, &str) -> Result<(), ParamError>,
    ) -> Result<(), ParamError> {
        let mut seen: Vec<String> = Vec::new();
        for (k, v) in pairs {
            let (name, value) = (k.as_ref(), v.as_ref());
            if name == "format" {
                continue;
            }
            if !self.known.contains(&name) {
                return Err(self.unknown(name));
            }
            if seen.iter().any(|s| s == name) {
                return Err(ParamError::new(name, "is given twice"));
            }
            seen.push(name.to_string());
            take(name, value)?;
        }
        Ok(())
    }

    fn unknown(&self, name: &str) -> ParamError {
        let shown: String = name.chars().take(40).collect();
        let nearest = self
            .known
            .iter()
            .map(|k| (strsim::jaro_winkler(k, name), *k))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let hint = match nearest {
            Some((_, k)) => format!("; did you mean `{k}`?"),
            None => format!("; known: {}", self.known.join(", ")),
        };
        ParamError::new(shown, format!("is not a parameter here{hint}"))
    }
}

/// A text value: not empty, at most [`MAX_VALUE_CHARS`], no control characters.
pub fn parse_name(param: &str, value: &str) -> Result<String, ParamError> {
    if value.is_empty() {
        return Err(ParamError::new(param, "must not be empty"));
    }
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(ParamError::new(
            param,
            format!("is longer than {MAX_VALUE_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ParamError::new(param, "must not hold control characters"));
    }
    Ok(value.to_string())
}

/// A tier: 0 to 3.
pub fn parse_tier(param: &str, value: &str) -> Result<u8, ParamError> {
    value
        .parse::<u8>()
        .ok()
        .filter(|t| *t <= 3)
        .ok_or_else(|| ParamError::new(param, "must be 0, 1, 2 or 3"))
}

/// A domain name.
pub fn parse_domain(param: &str, value: &str) -> Result<Domain, ParamError> {
    Domain::parse(value).ok_or_else(|| {
        let names: Vec<&str> = Domain::ALL.iter().map(|d| d.as_str()).collect();
        ParamError::one_of(param, &names)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_repeated_and_bad_values_name_the_parameter() {
        let p = Params::new(&["school", "tier"]);
        let run = |pairs: &[(&str, &str)]| p.each(pairs.iter().copied(), |_, _| Ok(()));
        assert_eq!(run(&[("format", "csv"), ("school", "A")]), Ok(()));
        let e = run(&[("shcool", "A")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`shcool` is not a parameter here; did you mean `school`?"
        );
        let e = run(&[("school", "A"), ("school", "B")]).unwrap_err();
        assert_eq!(e.to_string(), "`school` is given twice");
        assert_eq!(parse_tier("min_tier", "4").unwrap_err().param, "min_tier");
        assert_eq!(
            parse_name("q", "").unwrap_err().to_string(),
            "`q` must not be empty"
        );
        assert!(parse_domain("domain", "math").is_err());
        assert_eq!(
            parse_domain("domain", "social_emotional"),
            Ok(Domain::SocialEmotional)
        );
    }
}
