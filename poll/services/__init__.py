"""Use cases. Each function takes the session first, may flush, and never commits.

Grouped by domain:
- `definition`: a poll's definition, from TOML or XLSForm (polls, xlsform);
- `audience`: recipients, personal links, forgetting them (audiences, links, retention);
- `answering`: answers, the counters kept with them, refused attempts (answers, tallies, refusals);
- `releases`: everything about answers that leaves the database, through the release gate (release, results,
  question_results, publication, noisy_figures, ledger, suppression, exports, answer_table, stat_files,
  codebook, methodology);
- `messaging`: SMS out and in (outbox, inbound, conversations);
- `access`: operators and the audit trail (operators, audit);
- `simulations`: simulations kept beside a poll, the demo, background jobs' rows (simulation, runs, demo, jobs).
`lifecycle` sits above them: a poll's life cycle as an operator runs it, for the commands and the workspace alike.
Runners that own their sessions (the dispatcher, the live simulation, the jobs' queue) live in `poll.runners`.
"""
