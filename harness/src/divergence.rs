//! The divergence list (`harness/divergences.txt`): known differences between the simulator
//! and the real kernel, each with its reason and the kernel versions it concerns, and the
//! comparison of two runs that consults it.

/// One known difference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Divergence {
    /// The scenario it concerns, or `*`.
    pub scenario: String,
    /// The operation as written in the scenario.
    pub line: String,
    /// The simulator's result.
    pub sim: String,
    /// The kernel's result.
    pub kernel: String,
    /// Kernel versions it was seen on.
    pub kernels: String,
    /// Why it is kept.
    pub reason: String,
}

/// Read the list. Every entry must have all six keys, a non-empty reason among them.
pub fn parse(text: &str) -> Result<Vec<Divergence>, String> {
    let mut out: Vec<Divergence> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "[divergence]" {
            out.push(Divergence::default());
            continue;
        }
        let Some(d) = out.last_mut() else {
            return Err(format!("line {}: key outside an entry", i + 1));
        };
        let (k, v) = line
            .split_once('=')
            .ok_or(format!("line {}: expected key = value", i + 1))?;
        let v = v.trim().to_string();
        match k.trim() {
            "scenario" => d.scenario = v,
            "line" => d.line = v,
            "sim" => d.sim = v,
            "kernel" => d.kernel = v,
            "kernels" => d.kernels = v,
            "reason" => d.reason = v,
            other => return Err(format!("line {}: unknown key {other:?}", i + 1)),
        }
    }
    for (n, d) in out.iter().enumerate() {
        if [
            &d.scenario,
            &d.line,
            &d.sim,
            &d.kernel,
            &d.kernels,
            &d.reason,
        ]
        .iter()
        .any(|f| f.is_empty())
        {
            return Err(format!(
                "entry {}: every key is required, the reason above all",
                n + 1
            ));
        }
    }
    Ok(out)
}

/// The list shipped with the harness.
pub fn shipped() -> Vec<Divergence> {
    parse(include_str!("../divergences.txt")).expect("harness/divergences.txt is well-formed")
}

/// Compare two traces of `scenario`, line by line. Returns the differences no divergence
/// entry explains, as `sim: ... / kernel: ...` pairs.
pub fn unexplained(
    scenario: &str,
    sim: &[String],
    kernel: &[String],
    known: &[Divergence],
) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..sim.len().max(kernel.len()) {
        let (s, k) = (
            sim.get(i).map(String::as_str).unwrap_or("<none>"),
            kernel.get(i).map(String::as_str).unwrap_or("<none>"),
        );
        if s == k {
            continue;
        }
        let (op, sr) = s.rsplit_once(" = ").unwrap_or((s, ""));
        let kr = k.rsplit_once(" = ").map(|x| x.1).unwrap_or("");
        let explained = known.iter().any(|d| {
            (d.scenario == "*" || d.scenario == scenario)
                && d.line == op
                && d.sim == sr
                && d.kernel == kr
        });
        if !explained {
            out.push(format!("line {}:\n  sim:    {s}\n  kernel: {k}", i + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_list_parses() {
        let _ = shipped();
    }

    #[test]
    fn an_entry_without_a_reason_is_refused() {
        let text =
            "[divergence]\nscenario = *\nline = p: x\nsim = ok\nkernel = EINVAL\nkernels = 6.18\n";
        assert!(parse(text).is_err());
    }

    #[test]
    fn a_listed_difference_is_explained_and_others_are_not() {
        let known = parse(
            "[divergence]\nscenario = s\nline = p: x\nsim = ok\nkernel = EINVAL\nkernels = 6.18\nreason = because\n",
        )
        .expect("parse");
        let sim = vec!["p: x = ok".to_string(), "p: y = ok".to_string()];
        let kernel = vec!["p: x = EINVAL".to_string(), "p: y = EPERM".to_string()];
        let u = unexplained("s", &sim, &kernel, &known);
        assert_eq!(u.len(), 1);
        assert!(u[0].contains("p: y"));
        assert_eq!(unexplained("other", &sim, &kernel, &known).len(), 2);
    }
}
