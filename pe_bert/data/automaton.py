"""A probabilistic finite-state language over words: exact sampling, exact floors of masked-token prediction.

A :class:`SentenceAutomaton` is an acyclic automaton whose arcs each emit one word, drawn from the arc's *pool* (a
distribution over words). A sentence is a path from the start state to the final state. Because every word depends
only on the arc it is emitted from, and arcs only on the state they leave, exact inference is a forward-backward pass
over arcs:

* :meth:`~SentenceAutomaton.unigram_distribution`: the expected share of each word among all tokens, hence the
  *unigram entropy* — the loss of the best predictor that sees no context;
* :meth:`~SentenceAutomaton.masked_posteriors`: for a sentence (or a sentence prefix cut by the end of a block) with
  some positions masked, the exact posterior of each masked word given all visible ones — what a Bayes-optimal
  masked language model predicts, hence the *Bayes-optimal masked-token loss*, the floor no model can beat.

:class:`AutomatonBuilder` assembles an automaton from emitting arcs and (for latent choices) epsilon arcs, which
`build` removes. :mod:`pe_bert.data.compact` builds the study's language with it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from .sentence import RoleSpan, Sentence

START, FINAL = 0, 1
_STOCHASTIC_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Pool:
    """A distribution over words (each word once)."""

    words: tuple[str, ...]
    probs: tuple[float, ...]

    @classmethod
    def uniform(cls, words: Sequence[str]) -> Pool:
        return _uniform_pool(tuple(words))

    @classmethod
    def weighted(cls, weights: dict[str, float]) -> Pool:
        """Words with positive weights, normalised; repeated words would have been summed by the caller."""
        total = sum(weights.values())
        if not weights or total <= 0:
            raise ValueError("A pool needs at least one word with a positive weight.")
        words = tuple(sorted(weights))
        return cls(words, tuple(weights[w] / total for w in words))


@cache
def _uniform_pool(words: tuple[str, ...]) -> Pool:
    return Pool.weighted({word: 1.0 for word in words})


@dataclass(frozen=True)
class Context:
    """What a path through part of the automaton stands for (attached to every arc built in it)."""

    topic: str | None = None
    structure: str | None = None


class AutomatonBuilder:
    """Collects states and arcs. State 0 is the start, state 1 the final state.

    `emit(src, dst, prob, pool, role)`: an arc that emits one word of `pool` (a role label annotates it).
    `epsilon(src, dst, prob)`: a silent arc, for latent choices (topic, structure, ...); a state has either
    epsilon arcs or emitting arcs, never both. The arcs leaving a state must sum to 1.
    """

    def __init__(self):
        self.num_states = 2
        self.arcs: list[tuple[int, int, float, Pool, str | None, Context]] = []
        self.epsilons: dict[int, list[tuple[int, float]]] = {}

    def state(self) -> int:
        self.num_states += 1
        return self.num_states - 1

    def emit(
        self, src: int, dst: int, prob: float, pool: Pool, role: str | None = None, context: Context = Context()
    ) -> None:
        if prob > 0:
            self.arcs.append((src, dst, float(prob), pool, role, context))

    def epsilon(self, src: int, dst: int, prob: float) -> None:
        if prob > 0:
            self.epsilons.setdefault(src, []).append((dst, float(prob)))

    def build(self) -> SentenceAutomaton:
        emitting = {}
        for arc in self.arcs:
            emitting.setdefault(arc[0], []).append(arc)
        mixed = sorted(set(emitting) & set(self.epsilons))
        if mixed:
            raise ValueError(f"States {mixed[:5]} have both epsilon and emitting arcs; split them.")
        closure_memo: dict[int, dict[int, float]] = {}

        def closure(state: int, depth: int = 0) -> dict[int, float]:
            """Emitting states reached from `state` through epsilon arcs only, with their probabilities."""
            if depth > 10_000:
                raise ValueError("The epsilon arcs form a cycle.")
            if state not in self.epsilons:
                return {state: 1.0}
            if state not in closure_memo:
                reached: dict[int, float] = {}
                for dst, prob in self.epsilons[state]:
                    for target, p in closure(dst, depth + 1).items():
                        reached[target] = reached.get(target, 0.0) + prob * p
                closure_memo[state] = reached
            return closure_memo[state]

        # Keep the states reachable from the start once epsilons are folded into the emitting arcs.
        arcs, seen, frontier = [], {START}, [START]
        while frontier:
            state = frontier.pop()
            if state == FINAL:
                continue
            for target, weight in sorted(closure(state).items()):
                if target == FINAL:
                    raise ValueError("An epsilon path reaches the final state: every sentence must emit a word.")
                for _, dst, prob, pool, role, context in emitting.get(target, []):
                    arcs.append((state, dst, weight * prob, pool, role, context))
                    if dst not in seen:
                        seen.add(dst)
                        frontier.append(dst)
        return SentenceAutomaton(arcs)


class SentenceAutomaton:
    """An acyclic probabilistic automaton over words (see the module docstring).

    Arrays over arcs: `src`, `dst`, `prob`, `pool`, `role`, `context`; `pool_matrix[pool, word]` holds each pool's
    probabilities over `vocabulary` (sorted, so word ids are deterministic).
    """

    def __init__(self, arcs: list[tuple[int, int, float, Pool, str | None, Context]]):
        if not arcs:
            raise ValueError("The automaton has no arcs.")
        states = sorted({START, FINAL} | {a[0] for a in arcs} | {a[1] for a in arcs})
        index = {state: i for i, state in enumerate(states)}  # START -> 0, FINAL -> 1 (they sort first)
        pools = list(dict.fromkeys(a[3] for a in arcs))
        self.roles = tuple(dict.fromkeys(a[4] for a in arcs))
        self.contexts = tuple(dict.fromkeys(a[5] for a in arcs))
        self.vocabulary: tuple[str, ...] = tuple(sorted({w for pool in pools for w in pool.words}))
        self.word_ids = {word: i for i, word in enumerate(self.vocabulary)}
        self.num_states = len(states)
        pool_index = {pool: i for i, pool in enumerate(pools)}
        role_index = {role: i for i, role in enumerate(self.roles)}
        context_index = {context: i for i, context in enumerate(self.contexts)}
        self.src = np.array([index[a[0]] for a in arcs], dtype=np.int64)
        self.dst = np.array([index[a[1]] for a in arcs], dtype=np.int64)
        self.prob = np.array([a[2] for a in arcs], dtype=np.float64)
        self.pool = np.array([pool_index[a[3]] for a in arcs], dtype=np.int64)
        self.role = np.array([role_index[a[4]] for a in arcs], dtype=np.int64)
        self.context = np.array([context_index[a[5]] for a in arcs], dtype=np.int64)
        self.pools = pools
        self.pool_matrix = np.zeros((len(pools), len(self.vocabulary)))
        for i, pool in enumerate(pools):
            self.pool_matrix[i, [self.word_ids[w] for w in pool.words]] = pool.probs
        self._check()
        self._order = np.argsort(self.src, kind="stable")  # arcs grouped by source state, for sampling
        self._first_arc = np.searchsorted(self.src[self._order], np.arange(self.num_states + 1))
        self._cumulative = None  # per pool, cumulative word probabilities (for sampling)
        self._successors = None  # per (state, word id), the states it can lead to (for `accepts`)

    def _check(self) -> None:
        out = np.bincount(self.src, weights=self.prob, minlength=self.num_states)
        has_arcs = np.bincount(self.src, minlength=self.num_states) > 0
        bad = np.flatnonzero(has_arcs & (np.abs(out - 1.0) > _STOCHASTIC_TOLERANCE))
        if bad.size:
            raise ValueError(f"Arcs leaving states {bad[:5].tolist()} sum to {out[bad[:5]].tolist()}, not 1.")
        dead = np.flatnonzero(~has_arcs)
        if dead.tolist() != [FINAL]:
            raise ValueError(f"States {[s for s in dead.tolist() if s != FINAL][:5]} have no way out.")
        if self.max_length() is None:
            raise ValueError("The automaton has a cycle: sentences would be unbounded.")

    # ------------------------------------------------------------------------------------------- structure

    def max_length(self) -> int | None:
        """The longest sentence (None if the automaton has a cycle)."""
        if getattr(self, "_max_length", None) is None:
            self._max_length = self._longest()
        return self._max_length

    def _longest(self) -> int | None:
        active = np.zeros(self.num_states, dtype=bool)
        active[START] = True
        for length in range(self.num_states + 1):
            moving = active[self.src]
            if not moving.any():
                return length
            active = np.zeros(self.num_states, dtype=bool)
            active[self.dst[moving]] = True
            active[FINAL] = False
        return None

    def _occupancy(self) -> list[np.ndarray]:
        """Probability of being in each state after t words, t = 0 .. max_length."""
        alpha = np.zeros(self.num_states)
        alpha[START] = 1.0
        steps = [alpha]
        for _ in range(self.max_length()):
            alpha = alpha.copy()
            alpha[FINAL] = 0.0
            alpha = np.bincount(self.dst, weights=alpha[self.src] * self.prob, minlength=self.num_states)
            steps.append(alpha)
        return steps

    def expected_arc_counts(self) -> np.ndarray:
        """Expected number of times each arc is taken in one sentence."""
        counts = np.zeros(len(self.src))
        for alpha in self._occupancy():
            counts += alpha[self.src] * self.prob  # alpha[FINAL] has no arcs
        return counts

    def expected_length(self) -> float:
        """Expected number of words per sentence."""
        return float(self.expected_arc_counts().sum())

    def unigram_distribution(self) -> np.ndarray:
        """Each word's expected share of all tokens (expected count / expected length), over `vocabulary`."""
        per_pool = np.bincount(self.pool, weights=self.expected_arc_counts(), minlength=len(self.pools))
        counts = per_pool @ self.pool_matrix
        return counts / counts.sum()

    def unigram_entropy(self) -> float:
        """Entropy (nats) of the unigram distribution: the masked-token loss of the best context-free predictor."""
        p = self.unigram_distribution()
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    # ------------------------------------------------------------------------------------------- sampling

    def sample(self, n: int, seed: int = 0) -> list[Sentence]:
        """`n` annotated sentences, deterministically from `seed`: words, role spans, structure and topic."""
        rng = np.random.default_rng(seed)
        return [self.sample_one(iter(rng.random(2 * self.max_length())).__next__) for _ in range(n)]

    def sample_one(self, uniform, topic: str | None = None) -> Sentence:
        """One sentence from a source of uniform numbers in [0, 1) (two per word); `topic`: conditioned on it.

        The topic is decided by the first arc, so conditioning on it is exact: the first arc is drawn among that
        topic's arcs, renormalised.
        """
        if self._cumulative is None:
            # Python lists and `bisect`, not numpy: a sentence is a dozen scalar draws, where numpy's per-call
            # overhead dominates (bisect_right on the same floats finds the same index as searchsorted "right").
            self._cumulative = [row.tolist() for row in np.cumsum(self.pool_matrix, axis=1)]
            # per state: its arcs and their cumulative probabilities (drawing an arc is one binary search)
            self._arc_table = [
                (arcs.tolist(), np.cumsum(self.prob[arcs]).tolist())
                for arcs in (self._order[self._first_arc[s] : self._first_arc[s + 1]] for s in range(self.num_states))
            ]
            self._topic_tables = {}
            self._arc_fields = (self.pool.tolist(), self.role.tolist(), self.context.tolist(), self.dst.tolist())
        pools, arc_roles, arc_contexts, destinations = self._arc_fields
        last_word = len(self.vocabulary) - 1
        state, words, roles, context = START, [], [], None
        while state != FINAL:
            arcs, cumulative = self._arc_table[state]
            if state == START and topic is not None:
                if topic not in self._topic_tables:
                    chosen = [a for a in arcs if self.contexts[arc_contexts[a]].topic == topic]
                    if not chosen:
                        raise ValueError(f"No sentence has topic {topic!r}.")
                    self._topic_tables[topic] = (chosen, np.cumsum(self.prob[chosen]).tolist())
                arcs, cumulative = self._topic_tables[topic]
            arc = arcs[min(bisect.bisect_right(cumulative, uniform() * cumulative[-1]), len(arcs) - 1)]
            row = self._cumulative[pools[arc]]
            word = min(bisect.bisect_right(row, uniform() * row[-1]), last_word)
            words.append(self.vocabulary[word])
            roles.append(self.roles[arc_roles[arc]])
            context = context or self.contexts[arc_contexts[arc]]
            state = destinations[arc]
        return Sentence(tuple(words), _spans(roles), context.structure or "", context.topic or "")

    def sentence_probability(self, words: Sequence[str]) -> float:
        """P(sentence) under the automaton (0 for a sentence it cannot produce)."""
        ids = self.encode(words)
        if ids is None:
            return 0.0
        log_likelihood, _ = self._forward(ids, np.ones(len(ids), dtype=bool), complete=True)
        return math.exp(log_likelihood)

    def accepts(self, words: Sequence[str]) -> bool:
        """Whether the automaton can produce `words`: `sentence_probability(words) > 0`, decided on the sets of
        reachable states instead of a forward pass (the probing and task generators ask it of every candidate)."""
        ids = self.encode(words)
        if ids is None:
            return False
        if self._successors is None:
            arcs, word_ids = np.nonzero((self.pool_matrix[self.pool] > 0) & (self.prob > 0)[:, None])
            self._successors = {}
            for arc, word in zip(arcs.tolist(), word_ids.tolist()):
                self._successors.setdefault((int(self.src[arc]), word), set()).add(int(self.dst[arc]))
        states = {START}
        for word in ids.tolist():
            states = set().union(*(self._successors.get((state, word), ()) for state in states))
            if not states:
                return False
        return FINAL in states

    def encode(self, words: Sequence[str]) -> np.ndarray | None:
        """Word ids (None if a word is not in the vocabulary)."""
        try:
            return np.array([self.word_ids[w] for w in words], dtype=np.int64)
        except KeyError:
            return None

    # ------------------------------------------------------------------------------------------- inference

    def _emission(self, word_id: int, observed: bool) -> np.ndarray:
        """Per arc: the probability that it emits the observed word (1 for a masked position)."""
        if not observed:
            return np.ones(len(self.src))
        return self.pool_matrix[self.pool, word_id]

    def _forward(self, ids: np.ndarray, observed: np.ndarray, complete: bool) -> tuple[float, list[np.ndarray]]:
        """Scaled forward pass; returns the log-likelihood of the visible words and the normalised alphas."""
        alpha = np.zeros(self.num_states)
        alpha[START] = 1.0
        alphas, log_likelihood = [alpha], 0.0
        for word_id, seen in zip(ids, observed):
            weights = alpha[self.src] * self.prob * self._emission(word_id, seen)
            alpha = np.bincount(self.dst, weights=weights, minlength=self.num_states)
            total = alpha.sum()
            if total <= 0:
                return -math.inf, alphas
            alpha /= total
            log_likelihood += math.log(total)
            alphas.append(alpha)
        end = alpha[FINAL] if complete else 1.0
        return (log_likelihood + math.log(end)) if end > 0 else -math.inf, alphas

    def masked_posteriors(self, words: Sequence[str | None], complete: bool = True) -> dict[int, np.ndarray]:
        """Exact posterior over `vocabulary` of every masked position (`None` in `words`) given the visible words.

        `complete=False`: `words` is a prefix of a sentence (cut by the end of a block); the rest is marginalised.
        Raises ValueError when the visible words are impossible under the automaton.
        """
        observed = np.array([w is not None for w in words])
        ids = np.array([self.word_ids.get(w, -1) if w is not None else 0 for w in words], dtype=np.int64)
        if (ids < 0).any():
            unknown = [w for w in words if w is not None and w not in self.word_ids]
            raise ValueError(f"Words {unknown[:5]} are not in the automaton's vocabulary.")
        log_likelihood, alphas = self._forward(ids, observed, complete)
        if not math.isfinite(log_likelihood):
            raise ValueError(f"The automaton cannot produce {' '.join(w or '[MASK]' for w in words)!r}.")
        beta = np.zeros(self.num_states)
        if complete:
            beta[FINAL] = 1.0
        else:
            beta[:] = 1.0
        posteriors = {}
        for t in range(len(ids) - 1, -1, -1):
            emission = self._emission(ids[t], observed[t])
            through = alphas[t][self.src] * self.prob * beta[self.dst]
            if not observed[t]:
                per_pool = np.bincount(self.pool, weights=through, minlength=len(self.pools))
                posterior = per_pool @ self.pool_matrix
                posteriors[t] = posterior / posterior.sum()
            beta = np.bincount(self.src, weights=self.prob * emission * beta[self.dst], minlength=self.num_states)
            beta /= max(beta.max(), 1e-300)  # scaling: only ratios within a step matter
        return posteriors


def _spans(roles: list[str | None]) -> tuple[RoleSpan, ...]:
    """Role spans from per-word role labels (consecutive words with one label form one span; clause 0)."""
    spans, start = [], 0
    for i in range(1, len(roles) + 1):
        if i == len(roles) or roles[i] != roles[start]:
            if roles[start] is not None:
                spans.append(RoleSpan(roles[start], start, i, 0))
            start = i
    return tuple(spans)


def bayes_masked_losses(
    automaton: SentenceAutomaton, segments: Sequence[tuple[Sequence[str | None], Sequence[str], bool]]
) -> list[float]:
    """Bayes-optimal loss (nats) of every masked token of every segment.

    Each segment is `(visible, truth, complete)`: the words with masked positions as None, the true words, and
    whether the segment is a whole sentence (False: a prefix cut by the end of its block).
    """
    losses = []
    for visible, truth, complete in segments:
        posteriors = automaton.masked_posteriors(visible, complete=complete)
        for position in sorted(posteriors):
            losses.append(-math.log(posteriors[position][automaton.word_ids[truth[position]]]))
    return losses


__all__ = ["AutomatonBuilder", "Context", "Pool", "SentenceAutomaton", "bayes_masked_losses"]
