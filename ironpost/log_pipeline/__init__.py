"""Log pipeline: collectors -> batch parse + match (ext) -> rule conditions -> thresholds -> alerts."""
