"""Process definitions: bundles, validation, deployed versions, their differences."""
