//! `loadgen --mix`: the kinds of request a soak sends, in what proportions,
//! and what counts as each one's success.
//!
//! `bench-upstream` reads the kind from the body's `"bench"` member, which a
//! proxy passes through untouched: `"slow"` paces the stream (so a client can
//! leave while the upstream is still sending), `"error"` answers 500.

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A JSON answer, read to the end.
    Json,
    /// A stream, read to its `data: [DONE]`.
    Stream,
    /// A slow stream the client leaves after its first `data:` frame.
    Disconnect,
    /// The upstream answers 500: the client must get a 5xx with an OpenAI-shaped error.
    Error,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Json, Kind::Stream, Kind::Disconnect, Kind::Error];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Json => "json",
            Kind::Stream => "stream",
            Kind::Disconnect => "disconnect",
            Kind::Error => "error",
        }
    }

    /// Whether the request asks for a stream.
    pub fn stream(self) -> bool {
        matches!(self, Kind::Stream | Kind::Disconnect)
    }

    /// The extra top-level member telling `bench-upstream` what to do (`""`: none).
    pub fn directive(self) -> &'static str {
        match self {
            Kind::Json | Kind::Stream => "",
            Kind::Disconnect => r#","bench":"slow""#,
            Kind::Error => r#","bench":"error""#,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Weights per kind, e.g. `json=50,stream=30,disconnect=10,error=10`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix(pub Vec<(Kind, u32)>);

impl Mix {
    pub fn parse(text: &str) -> Result<Mix, String> {
        let mut weights = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').ok_or_else(|| format!("{part:?}: want KIND=WEIGHT"))?;
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.name() == name.trim())
                .ok_or_else(|| format!("{name:?}: not a kind (json, stream, disconnect, error)"))?;
            let weight: u32 =
                weight.trim().parse().map_err(|_| format!("{part:?}: the weight is not a whole number"))?;
            if weights.iter().any(|(k, _)| *k == kind) {
                return Err(format!("{name:?} given twice"));
            }
            if weight > 0 {
                weights.push((kind, weight));
            }
        }
        if weights.is_empty() {
            return Err("the mix has no kind with a weight above 0".into());
        }
        if weights.iter().map(|(_, w)| u64::from(*w)).sum::<u64>() > 10_000 {
            return Err("the weights add up to more than 10000".into());
        }
        Ok(Mix(weights))
    }

    /// One cycle of kinds, each as often as its weight, spread evenly (smooth
    /// weighted round robin), so any stretch of requests has about the mix.
    pub fn schedule(&self) -> Vec<Kind> {
        let total: i64 = self.0.iter().map(|(_, w)| i64::from(*w)).sum();
        let mut current = vec![0i64; self.0.len()];
        let mut out = Vec::with_capacity(total as usize);
        for _ in 0..total {
            for (c, (_, w)) in current.iter_mut().zip(&self.0) {
                *c += i64::from(*w);
            }
            let Some((best, _)) = current.iter().enumerate().max_by_key(|(i, c)| (**c, -(*i as i64))) else { break };
            current[best] -= total;
            out.push(self.0[best].0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(
            Mix::parse("json=5, stream=3,disconnect=0,error=2"),
            Ok(Mix(vec![(Kind::Json, 5), (Kind::Stream, 3), (Kind::Error, 2)]))
        );
        assert!(Mix::parse("json").unwrap_err().contains("KIND=WEIGHT"));
        assert!(Mix::parse("jsn=1").unwrap_err().contains("not a kind"));
        assert!(Mix::parse("json=1,json=2").unwrap_err().contains("twice"));
        assert!(Mix::parse("json=0").unwrap_err().contains("above 0"));
        assert!(Mix::parse("json=-1").unwrap_err().contains("whole number"));
    }

    #[test]
    fn the_schedule_has_the_weights_spread_out() {
        let schedule = Mix::parse("json=5,stream=3,error=2").unwrap().schedule();
        assert_eq!(schedule.len(), 10);
        for (kind, weight) in [(Kind::Json, 5), (Kind::Stream, 3), (Kind::Error, 2)] {
            assert_eq!(schedule.iter().filter(|k| **k == kind).count(), weight);
        }
        // No kind twice in a row when another could go between.
        assert!(schedule.windows(2).all(|w| w[0] != w[1] || w[0] == Kind::Json), "{schedule:?}");
        assert_eq!(Mix::parse("stream=1").unwrap().schedule(), [Kind::Stream]);
    }
}
