"""A lab's acceptance policy: rules over the quality record that grade a bundle pass, warn or fail, with reasons.

A policy is a TOML (or YAML) file of rules (`schemas/policy.schema.json`):

    name = "Acme, batch 7"
    [[rule]]
    metric = "narration.coverage"     # a dotted path into the quality record; a list counts its items
    min = 0.40                        # and/or max, or equals / one_of
    grade = "fail"                    # or "warn"
    why = "narrate at least 40 % of the active time"

A bundle fails when any fail rule is broken, warns when only warn rules are, and passes otherwise. A metric the
bundle does not have (no audio, no video) breaks the rule unless it says `missing = "pass"`. Without a file, the
built-in `DEFAULT` applies: the checks an expert can act on before submitting.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trajrec.errors import TrajrecError

GRADES = ("pass", "warn", "fail")


class PolicyError(TrajrecError):
    """A policy file that cannot be read or does not follow policy.schema.json."""


@dataclass(frozen=True)
class Rule:
    metric: str
    grade: str = "fail"
    min: float | None = None
    max: float | None = None
    equals: Any = None
    one_of: tuple[Any, ...] | None = None
    why: str = ""
    missing: str | None = None  # the grade when the metric is absent; None: the rule's own grade

    def check(self, quality: dict[str, Any]) -> str | None:
        """None when the rule holds, else the reason it does not."""
        value = lookup(quality, self.metric)
        tail = f": {self.why}" if self.why else ""
        if value is None:
            return None if (self.missing or self.grade) == "pass" else f"{self.metric} is not measured{tail}"
        if self.min is not None and value < self.min:
            return f"{self.metric} {_fmt(value)} < {_fmt(self.min)}{tail}"
        if self.max is not None and value > self.max:
            return f"{self.metric} {_fmt(value)} > {_fmt(self.max)}{tail}"
        if self.equals is not None and value != self.equals:
            return f"{self.metric} is {_fmt(value)}, not {_fmt(self.equals)}{tail}"
        if self.one_of is not None and value not in self.one_of:
            return f"{self.metric} is {_fmt(value)}, not one of {', '.join(map(_fmt, self.one_of))}{tail}"
        return None


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...] = ()

    def grade(self, quality: dict[str, Any]) -> Grade:
        broken: list[tuple[str, str, str]] = []
        for rule in self.rules:
            problem = rule.check(quality)
            if problem is not None:
                grade = rule.missing if rule.missing and lookup(quality, rule.metric) is None else rule.grade
                if grade != "pass":
                    broken.append((grade, problem, rule.why or problem))
        broken.sort(key=lambda b: -GRADES.index(b[0]))  # fail first, in the policy's order
        worst = max((GRADES.index(g) for g, _, _ in broken), default=0)
        return Grade(GRADES[worst], self.name, [f"{g}: {p}" for g, p, _ in broken], [w for _, _, w in broken])


@dataclass
class Grade:
    grade: str  # pass | warn | fail
    policy: str
    reasons: list[str] = field(default_factory=list)  # "fail: narration.coverage 0.02 < 0.05: <why>", worst first
    advice: list[str] = field(default_factory=list)  # per reason, what to do (the rule's why), for the expert

    def to_json(self) -> dict[str, Any]:
        return {"grade": self.grade, "policy": self.policy, "reasons": list(self.reasons)}


def lookup(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path; a list stands for its length; None when absent."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return len(value) if isinstance(value, list) else value


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


DEFAULT = Policy(
    "trajrec default",
    (
        Rule("status", "warn", equals="complete", why="rebuilt after a crash: check its end"),
        Rule("active_s", "fail", min=10, why="almost nothing happened on screen or in input"),
        Rule("narration.present", "fail", equals=True, why="no voiceover: record with a microphone"),
        Rule("narration.coverage", "fail", min=0.05, missing="pass",
             why="the voiceover is almost silent: check the microphone and its level"),
        Rule("narration.coverage", "warn", min=0.3, missing="pass", why="say what you do and why while you work"),
        Rule("voice.clipped_share", "warn", max=0.001, missing="pass",
             why="the voiceover clips: move back from the microphone or lower its gain"),
        Rule("voice.peak_dbfs", "warn", min=-30.0, missing="pass",
             why="the voiceover is very quiet: move closer or raise the microphone's gain"),
        Rule("frames.max_gap_s", "fail", max=5.0, missing="pass", why="the screen recording stalled"),
        Rule("frames.dropped_share", "warn", max=0.01, missing="pass", why="the recorder dropped frames"),
        Rule("black_spans", "warn", max=0, why="the screen was black"),
        Rule("frozen_spans", "warn", max=0, why="the screen did not change while you typed or clicked"),
        Rule("idle_share", "warn", max=0.5, why="more than half of the time nothing happened: trim the idle parts"),
    ),
)  # fmt: skip


def load_policy(path: str | Path) -> Policy:
    """A policy from a TOML or YAML file, checked against policy.schema.json."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f"{p}: cannot read the policy ({e})") from e
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as e:
                raise PolicyError(f"{p}: YAML policies need PyYAML (pip install pyyaml), or write it in TOML") from e
            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as e:
        raise PolicyError(f"{p}: not a policy file ({' '.join(str(e).split())[:200]})") from e
    except Exception as e:  # yaml's errors
        if isinstance(e, PolicyError):
            raise
        raise PolicyError(f"{p}: not a policy file ({' '.join(str(e).split())[:200]})") from e
    return policy_from(data, where=str(p))


def policy_from(data: Any, where: str = "policy") -> Policy:
    from trajrec.manifest import schema_errors

    errors = schema_errors(json.loads(json.dumps(data, default=str)), "policy.schema.json")
    if errors:
        raise PolicyError(f"{where}: {errors[0]} (see schemas/policy.schema.json)")
    rules = tuple(
        Rule(
            metric=r["metric"],
            grade=r.get("grade", "fail"),
            min=r.get("min"),
            max=r.get("max"),
            equals=r.get("equals"),
            one_of=tuple(r["one_of"]) if "one_of" in r else None,
            why=r.get("why", ""),
            missing=r.get("missing"),
        )
        for r in data.get("rule", [])
    )
    return Policy(str(data.get("name") or Path(where).stem), rules)
