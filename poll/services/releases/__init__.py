"""Everything that leaves the database about answers: results, public figures, exports, methodology."""
