"""A poll's results and its questionnaire as plain text, for the terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from poll import variants
from poll.i18n import LANGUAGES, pick
from poll.models import Poll
from poll.questionnaire import Question
from poll.services.releases.release import Results
from poll.stats import proportions
from poll.vocabulary import QuestionType


def _shown(shares: Sequence[float | None]) -> list[str]:
    # The shares of one set in percent to 0.1 point, rounded together so that they sum to 100%.
    return ["—" if percent is None else f"{percent:5.1f}%" for percent in proportions.shown_percentages(shares)]


def _rate(part: int, whole: int) -> str:
    return f"({100 * part / whole:.1f}%)" if whole else ""


def results_table(results: Results, labels: Mapping[str, str] | None = None) -> str:
    """The funnel, refusals and per-option shares (raw, weighted, true) as aligned text."""
    lines = [f"poll {results.poll.slug} ({results.poll.status})"]
    if results.run:
        run = results.run
        lines.append(
            f"simulation: scenario {run.scenario}, seed {run.seed}, population {run.population_size:,}, "
            f"sample {run.sample_size:,} ({run.mode})"
        )
    lines.append("")
    for name, value, base in [
        ("invited", results.invited, None),
        ("sent", results.sent, results.invited),
        ("delivered", results.delivered, results.invited),
        ("opened", results.opened, results.invited),
        ("answered", results.answered, results.invited),
    ]:
        lines.append(f"  {name:<12}{value:>12,}  {_rate(value, base) if base else ''}")
    refused = ", ".join(f"{kind} {count:,}" for kind, count in sorted(results.refused.items())) or "none"
    lines.append(f"  refused attempts: {refused}")
    guesses = results.run.extras.get("guesses") if results.run else None
    if guesses and guesses["tried"]:
        lines.append(f"  guessed links: {guesses['tried']:,} tried, {guesses['matched']:,} matched a real link, all refused")
    lines.append("")
    has_truth = any(option.true_share is not None for option in results.options)
    header = f"  {'answer':<44}{'count':>9}{'raw':>8}{'95% interval':>17}{'weighted':>10}"
    header += f"{'true':>8}{'error':>8}" if has_truth else ""
    lines.append(header)
    english = LANGUAGES["en"]
    raw, weighted, true = (_shown([getattr(option, name) for option in results.options])
                           for name in ("share", "weighted_share", "true_share"))
    for position, option in enumerate(results.options):
        label = (labels or {}).get(option.code) or pick(option.label, english)
        interval = "—" if option.ci95 is None else f"[{100 * option.ci95[0]:.1f}, {100 * option.ci95[1]:.1f}]"
        count = "—" if option.count is None else f"{option.count:,}"
        row = f"  {option.code + ' ' + label[:40]:<44}{count:>9}{raw[position]:>8}{interval:>17}"
        row += f"{weighted[position]:>10}"
        if has_truth:
            error = None if None in (option.true_share, option.share) else option.share - option.true_share
            row += f"{true[position]:>8}" + ("" if error is None else f"{100 * error:+7.1f}")
        lines.append(row)
    if results.weighting:
        w = results.weighting
        lines.append("")
        lines.append(
            f"  weighted: raked to the {w.margins}'s governorate, sex and age band; "
            f"design effect {w.design_effect:.2f}, effective n {w.effective_n:,.0f}"
            + ("" if w.converged else " (did not converge)")
        )
    if results.selection_index:
        lines += _index_lines(results.options, results.selection_index)
    lines.extend(f"  note: {note}" for note in results.notes)
    if results.run and results.run.extras.get("campaign_submissions"):
        counts = results.run.extras["open_link_counts"]
        total = sum(counts.values())
        shown = _shown([counts[code] / total for code in counts])
        shares = ", ".join(f"{code}: {percent.strip()}" for code, percent in zip(counts, shown, strict=True))
        lines.append(f"  against an open link (no personal tokens) the campaign would have counted: {shares}")
    if results.experiment:
        lines += ["", *_experiment_lines(results.experiment)]
    return "\n".join(lines)


def _index_lines(options, index: dict) -> list[str]:
    # Andridge and Little's MUBP beside the weighted shares: phi 0, 0.5 and 1, and the range over phi.
    phis = " / ".join(f"{phi:g}" for phi in index["phis"])
    lines = [f"  if opinion drove answering (Andridge-Little MUBP at phi {phis}; range over phi, 95% margin included):"]
    for option, item in zip(options, index["options"], strict=True):
        if item["shares"] is None:
            lines.append(f"    {option.code}: not available ({item['not_available']})")
            continue
        shares = " / ".join(f"{100 * value:.1f}%" for value in item["shares"].values())  # one answer, three phis
        low, high = item["range"]
        lines.append(f"    {option.code}: {shares}; range {100 * low:.1f}-{100 * high:.1f}%")
    return lines


def _experiment_lines(experiment: dict) -> list[str]:
    # Per way of asking: answered of invited, then each answer's share and difference from the reference.
    lines = [f"  ways of asking (split ballot), each against {experiment['reference']}; shares among those who "
             "answered, unweighted; differences in points with Newcombe's 95% interval"]
    for variant in experiment["variants"]:
        answered = "hidden (too few, or an answer missing)" if variant["suppressed"] else f"{variant['answered']:,}"
        lines.append(f"  {variant['name']:<10}{variant['changes']:<22}invited {variant['invited']:>9,}  "
                     f"answered {answered}")
        shown = _shown([option["share"] for option in variant["options"] or []])
        for position, option in enumerate(variant["options"] or []):
            row = f"    {option['code']:<8}{shown[position]}"
            if variant["differences"]:
                d = variant["differences"][position]
                row += f"{100 * d['difference']:+8.1f}  [{100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}]"
            lines.append(row)
    return lines


def questionnaire(poll: Poll, questions: Sequence[Question], language: str | None = None) -> str:
    """A poll's questions as text: number, name, type and role, when it is asked, its texts and choices."""
    codes = [language] if language else [code for code in LANGUAGES if code in poll.question]
    lines = [f"poll {poll.slug} ({poll.status}, {'anonymous' if poll.is_anonymous else 'not anonymous'}), "
             f"{len(questions)} question{'s' if len(questions) != 1 else ''}"]
    for number, question in enumerate(questions, start=1):
        kind = str(question.type)
        if question.type == QuestionType.INTEGER:
            kind += f" {question.minimum}-{question.maximum}"
        if question.type == QuestionType.TEXT:
            kind += f" up to {question.max_length} characters"
        traits = [kind, "required" if question.required else "optional"]
        if question.role:
            traits.append(str(question.role) + (f" -> {question.maps_to}" if question.maps_to else ""))
        name = "option" if question.is_headline else question.name
        lines += ["", f"{number}. {question.name} ({', '.join(traits)})" + ("" if name == question.name
                                                                           else f", posted as {name}")]
        if question.relevant:
            lines.append(f"   asked only if: {question.relevant}")
        lines += [f"   [{code}] {question.label[code]}" for code in codes if code in question.label]
        for choice in question.choices:
            texts = " | ".join(choice.label[code] for code in codes if code in choice.label)
            lines.append(f"     {choice.code:>5}  {texts}")
    experiment = variants.Experiment.from_dict(poll.experiment)
    if experiment is not None:
        lines += ["", f"split ballot: {len(experiment.variants)} ways of asking the headline, one per link at random "
                      f"(seed {experiment.seed}), balanced within governorate, sex and age band"]
        headline = next(question for question in questions if question.is_headline)
        for variant in experiment.variants:
            lines.append(f"  {variant.name} ({variant.kind}){' - the reference' if variant is experiment.variants[0] else ''}")
            shown = variant.form_questions([headline])
            for question in shown:
                lines += [f"   [{code}] {question.label[code]}" for code in codes if code in question.label]
                for position, choice in enumerate(question.choices):
                    texts = " | ".join(choice.label[code] for code in codes if code in choice.label)
                    if question.name == variants.STEP:  # a first step stands for headline codes
                        texts += f"  (= {', '.join(variant.steps[position].codes)})"
                    lines.append(f"     {choice.code:>5}  {texts}")
    return "\n".join(lines)
