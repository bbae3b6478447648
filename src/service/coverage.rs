//! Coverage status: how a technique's tests roll up into its `status_global`, and the coverage
//! percentage. Pure functions, so every rule is tested on its own.

use poem_openapi::Enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum CoverageStatus {
    NotEvaluated,
    InProgress,
    Validated,
    Partial,
    NotCovered,
}

impl CoverageStatus {
    pub const ALL: [CoverageStatus; 5] = [
        CoverageStatus::NotEvaluated,
        CoverageStatus::InProgress,
        CoverageStatus::Validated,
        CoverageStatus::Partial,
        CoverageStatus::NotCovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CoverageStatus::NotEvaluated => "not_evaluated",
            CoverageStatus::InProgress => "in_progress",
            CoverageStatus::Validated => "validated",
            CoverageStatus::Partial => "partial",
            CoverageStatus::NotCovered => "not_covered",
        }
    }

    pub fn parse(value: &str) -> Option<CoverageStatus> {
        CoverageStatus::ALL.into_iter().find(|status| status.as_str() == value)
    }
}

/// What a technique's tests amount to: all of them, and the validated ones by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestTally {
    pub total: u64,
    pub detected: u64,
    pub partially_detected: u64,
    pub not_detected: u64,
}

/// DESIGN.md's roll-up: no tests → not evaluated; tests but none validated → in progress;
/// validated tests all detected → validated; all not detected → not covered; any other mix → partial.
pub fn roll_up(tally: TestTally) -> CoverageStatus {
    let validated = tally.detected + tally.partially_detected + tally.not_detected;
    if tally.total == 0 {
        CoverageStatus::NotEvaluated
    } else if validated == 0 {
        CoverageStatus::InProgress
    } else if tally.detected == validated {
        CoverageStatus::Validated
    } else if tally.not_detected == validated {
        CoverageStatus::NotCovered
    } else {
        CoverageStatus::Partial
    }
}

/// (validated + partial) / total × 100, rounded to 2 decimals; 0 when there is nothing to cover.
pub fn coverage_percentage(validated: u64, partial: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let ratio = (validated + partial) as f64 / total as f64 * 100.0;
    (ratio * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::CoverageStatus::*;
    use super::*;

    fn tally(total: u64, detected: u64, partially_detected: u64, not_detected: u64) -> TestTally {
        TestTally { total, detected, partially_detected, not_detected }
    }

    #[test]
    fn every_roll_up_case() {
        let table = [
            (tally(0, 0, 0, 0), NotEvaluated, "no tests"),
            (tally(3, 0, 0, 0), InProgress, "drafts or rejected only"),
            (tally(1, 1, 0, 0), Validated, "one detected"),
            (tally(4, 2, 0, 0), Validated, "detected, drafts beside them"),
            (tally(2, 0, 0, 2), NotCovered, "all not detected"),
            (tally(1, 0, 1, 0), Partial, "one partially detected"),
            (tally(2, 1, 0, 1), Partial, "detected and not detected"),
            (tally(2, 1, 1, 0), Partial, "detected and partially detected"),
            (tally(2, 0, 1, 1), Partial, "partially and not detected"),
            (tally(9, 1, 1, 1), Partial, "all three"),
        ];
        for (tally, expected, case) in table {
            assert_eq!(roll_up(tally), expected, "{case}");
        }
    }

    #[test]
    fn coverage_percentages() {
        assert_eq!(coverage_percentage(0, 0, 0), 0.0);
        assert_eq!(coverage_percentage(50, 20, 200), 35.0);
        assert_eq!(coverage_percentage(1, 0, 3), 33.33);
        assert_eq!(coverage_percentage(2, 0, 3), 66.67);
        assert_eq!(coverage_percentage(3, 0, 3), 100.0);
        assert_eq!(coverage_percentage(1, 0, 691), 0.14);
    }

    #[test]
    fn status_names_round_trip() {
        for status in CoverageStatus::ALL {
            assert_eq!(CoverageStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(CoverageStatus::parse("done"), None);
    }
}
