"""Canonical persons: link the tracklets that are one human seen in pieces.

A tracker breaks one person into several tracklets (occlusions, missed
detections, leaving and coming back). This module decides, from the final
:class:`~streamreid.types.TrackletStats` alone, which tracklets continue each
other, and aggregates each chain into a :class:`~streamreid.types.Person`.

The checks of each pair are :mod:`streamreid.persons.pair_checks`.

**Linking** (:func:`group_tracklets`). Every pair that passes all checks gets a
cost in ``[0, 1]``, the mean of four normalised mismatches: gap / limit,
distance / limit, ``|ln area ratio|`` / ``|ln bound|`` and jitter difference / limit
(motion is a gate only). Each tracklet may then have at most one successor and
one predecessor: a maximum-weight bipartite matching (predecessors x successors,
link weight ``1 - cost``, solved exactly per connected component with
:func:`scipy.optimize.linear_sum_assignment`; pairs that fail a check are
forbidden). The optimum is unique given the costs and the input is put in a
canonical order first, so the result does not depend on the order of the input,
unlike the reference's greedy pass where a tracklet joins the first group any
member matches. The links form chains; a chain is a person. Every link joins an
earlier end to a strictly later start, so no chain holds two tracklets that
overlap in time.

**Shot cuts.** Position and motion say nothing across a cut between shots (an edited
video): the next shot may show another place, or the same place from elsewhere. A pair whose
gap spans a cut (:func:`crosses_cut`) is never a candidate; only appearance (``must_link``,
from ReID merges or the user) joins tracklets across a cut.

**Constraints.** ``must_link`` pairs are joined first (union-find), each kept only
if its group stays free of ``cannot_link`` pairs and of time overlaps longer than
half of ``max_temporal_gap`` (a track handed one faint box after a new track started
on the same person overlaps it by a few frames); the others are
reported in :attr:`GroupingResult.unmet_must_links`. A must-linked group is then
one node whose end links to a successor and whose start to a predecessor.
``cannot_link`` pairs never end up in one chain: pairs between the two nodes are
forbidden, and when a chain still joins them through other tracklets its
costliest link on the way is forbidden and the matching solved again.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from streamreid.config import GroupingConfig
from streamreid.errors import StreamReidError
from streamreid.persons.handover import Neighbours
from streamreid.persons.pair_checks import (
    PairCheck,
    crowd_check,
    run_checks,
    validate_grouping_config,
)
from streamreid.types import TrackletStats


class GroupingError(StreamReidError, ValueError):
    """Tracklet statistics or link constraints given to grouping are inconsistent."""


@dataclass(frozen=True)
class GroupingResult:
    """Persons as groups of tracker ids, with everything that led to them.

    Attributes:
        groups: Tracker ids per person, each in time order; groups ordered by first frame.
        pairs: Every pair considered (candidate links and must-link joins), in time order.
        chosen: The links used ``(earlier, later)``: consecutive tracklets of every group.
        forced: The chosen links that come from ``must_link`` rather than the checks.
        unmet_must_links: ``must_link`` pairs that could not be honoured (time overlap or
            a ``cannot_link`` conflict).
    """

    groups: tuple[tuple[int, ...], ...]
    pairs: tuple[PairCheck, ...]
    chosen: tuple[tuple[int, int], ...]
    forced: tuple[tuple[int, int], ...] = ()
    unmet_must_links: tuple[tuple[int, int], ...] = ()


def time_key(stats: TrackletStats) -> tuple[int, int, int]:
    """The order of tracklets in time that person ids follow (first tracklet of each)."""
    return _time_key(stats)


def _time_key(stats: TrackletStats) -> tuple[int, int, int]:
    return (stats.start_frame, stats.end_frame, stats.tracker_id)


def _overlaps(a: TrackletStats, b: TrackletStats) -> bool:
    return _overlap(a, b) > 0


def _overlap(a: TrackletStats, b: TrackletStats) -> int:
    """Frames (decoded-frame indices) both tracklets span, 0 when one ends before the other starts."""
    return max(0, min(a.end_frame, b.end_frame) - max(a.start_frame, b.start_frame) + 1)


def group_tracklets(
    stats: Sequence[TrackletStats],
    *,
    config: GroupingConfig,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
    seen_together: Iterable[tuple[int, int]] = (),
    shot_cuts: Sequence[int] = (),
    neighbours: Neighbours | None = None,
) -> GroupingResult:
    """Link tracklets into persons (see the module docstring for the algorithm).

    Candidate pairs are those whose boundary lies within ``max_temporal_gap``
    frames either way: the later starts at most that many frames after the earlier
    ends, or overlaps it by at most that many (those are logged as failing the
    temporal check).

    Args:
        stats: Final statistics of every tracklet, in any order.
        config: Grouping thresholds and modes.
        must_link: Tracker id pairs known to be one person (e.g. from appearance).
        cannot_link: Tracker id pairs known to be different people.
        seen_together: Tracker id pairs seen in one frame at different places
            (:func:`streamreid.persons.person_tracks.seen_together`): cannot-links that no must-link
            overrides (such a must-link is unmet, not an error); ids without statistics are ignored.
        shot_cuts: First frames of the shots after each hard cut: no pair across one is a candidate.
        neighbours: The video's tracked boxes: candidate links get the ``crowd`` check (unless
            ``config.crowd_radius`` is 0). ``None``: the five checks only.

    Returns:
        The groups, every pair considered and the links chosen.

    Raises:
        GroupingError: Duplicate tracker ids, a constraint naming an unknown id, a
            tracklet cannot-linked to itself, or a pair both must- and cannot-linked.
        ConfigError: ``config`` is invalid.
    """
    validate_grouping_config(config)
    by_id, must, cannot = _checked_inputs(stats, must_link, cannot_link)
    cannot_sets = {frozenset(p) for p in cannot}
    cannot_sets |= {frozenset((int(a), int(b))) for a, b in seen_together if a != b and a in by_id and b in by_id}
    nodes, unmet = _must_link_nodes(by_id, must, cannot_sets, max_overlap=config.max_temporal_gap // 2)

    pairs, forced = _must_link_pairs(nodes, by_id, config)
    apart = {frozenset((int(a), int(b))) for a, b in seen_together}  # every id: short tracklets are people too
    candidates = _candidate_pairs(nodes, by_id, config, shot_cuts=sorted(shot_cuts), neighbours=neighbours,
                                  apart=apart)  # fmt: skip
    pairs.extend(check for _, _, check in candidates)

    chains = _chains_without_cannot_links(nodes, candidates, cannot_sets)
    return _result(chains, nodes, by_id, pairs=pairs, forced=forced, unmet=unmet)


def _must_link_pairs(
    nodes: Sequence[Sequence[int]], by_id: Mapping[int, TrackletStats], config: GroupingConfig
) -> tuple[list[PairCheck], list[tuple[int, int]]]:
    """The checks of the consecutive tracklets of each must-linked node, and those links (forced)."""
    pairs: list[PairCheck] = []
    forced: list[tuple[int, int]] = []
    for members in nodes:
        for a, b in pairwise(members):
            pairs.append(run_checks(by_id[a], by_id[b], config))
            forced.append((a, b))
    return pairs, forced


def _result(
    chains: Iterable[Sequence[int]], nodes: Sequence[Sequence[int]], by_id: Mapping[int, TrackletStats], *,
    pairs: list[PairCheck], forced: list[tuple[int, int]], unmet: Sequence[tuple[int, int]],
) -> GroupingResult:  # fmt: skip
    """The groups the chains of nodes make, in time order, with every pair and link in time order."""
    groups = sorted(
        (tuple(tid for node in chain for tid in nodes[node]) for chain in chains),
        key=lambda group: _time_key(by_id[group[0]]),
    )
    chosen = tuple((a, b) for group in groups for a, b in pairwise(group))
    pairs.sort(key=lambda p: (_time_key(by_id[p.earlier]), _time_key(by_id[p.later])))
    return GroupingResult(
        groups=tuple(groups),
        pairs=tuple(pairs),
        chosen=chosen,
        forced=tuple(sorted(forced, key=lambda p: _time_key(by_id[p[0]]))),
        unmet_must_links=tuple(unmet),
    )


def _checked_inputs(
    stats: Sequence[TrackletStats], must_link: Iterable[tuple[int, int]], cannot_link: Iterable[tuple[int, int]]
) -> tuple[dict[int, TrackletStats], list[tuple[int, int]], list[tuple[int, int]]]:
    """The tracklets by id and the constraint pairs, refused when they contradict themselves.

    Raises:
        GroupingError: As :func:`group_tracklets` says.
    """
    by_id: dict[int, TrackletStats] = {}
    for item in stats:
        if item.tracker_id in by_id:
            raise GroupingError(f"tracker id {item.tracker_id} appears twice in the tracklet statistics")
        by_id[item.tracker_id] = item
    must = _constraint_pairs(must_link, by_id, "must_link")
    cannot = _constraint_pairs(cannot_link, by_id, "cannot_link")
    if any(a == b for a, b in cannot):
        raise GroupingError("cannot_link pairs a tracklet with itself")
    both = {frozenset(p) for p in must} & {frozenset(p) for p in cannot}
    if both:
        a, b = sorted(next(iter(both)))
        raise GroupingError(f"tracklets {a} and {b} are both must-linked and cannot-linked")
    return by_id, must, cannot


def _chains_without_cannot_links(
    nodes: list[tuple[int, ...]], candidates: list[tuple[int, int, PairCheck]], cannot_sets: set[frozenset[int]]
) -> list[list[int]]:
    """Match the accepted candidate links into chains; cut links until no chain joins a cannot-linked pair."""
    forbidden: set[tuple[int, int]] = set()
    for u, v, _ in candidates:
        if any(frozenset((a, b)) in cannot_sets for a in nodes[u] for b in nodes[v]):
            forbidden.add((u, v))
    while True:
        links = _match(len(nodes), [(u, v, c) for u, v, c in candidates if c.accepted and (u, v) not in forbidden])
        chains = _chains(len(nodes), links)
        cuts = _cannot_link_cuts(chains, nodes, links, cannot_sets)
        if not cuts:
            return chains
        forbidden |= cuts


def _constraint_pairs(
    pairs: Iterable[tuple[int, int]], by_id: dict[int, TrackletStats], name: str
) -> list[tuple[int, int]]:
    result = []
    for pair in pairs:
        a, b = (int(v) for v in pair)
        for tid in (a, b):
            if tid not in by_id:
                raise GroupingError(f"{name} names tracker id {tid}, which has no tracklet statistics")
        result.append((a, b))
    return result


def _must_link_nodes(
    by_id: dict[int, TrackletStats], must: list[tuple[int, int]], cannot: set[frozenset[int]], *, max_overlap: int
) -> tuple[list[tuple[int, ...]], list[tuple[int, int]]]:
    """Join must-linked tracklets into nodes (member ids in time order), nodes in time order.

    Must-linked tracklets may overlap in time by up to ``max_overlap`` frames: ByteTrack
    keeps a lost track for a while and can hand it one more faint box after a new track
    has started on the same person. A longer overlap, or a cannot-link, leaves the pair unmet.
    """
    members: dict[int, list[int]] = {tid: [tid] for tid in by_id}
    root: dict[int, int] = {tid: tid for tid in by_id}
    unmet: list[tuple[int, int]] = []
    ordered = sorted(
        {tuple(sorted((a, b), key=lambda t: _time_key(by_id[t]))) for a, b in must if a != b},
        key=lambda p: (_time_key(by_id[p[0]]), _time_key(by_id[p[1]])),
    )
    for a, b in ordered:
        ra, rb = root[a], root[b]
        if ra == rb:
            continue
        clash = any(
            _overlap(by_id[x], by_id[y]) > max_overlap or frozenset((x, y)) in cannot
            for x in members[ra]
            for y in members[rb]
        )
        if clash:
            unmet.append((a, b))
            continue
        members[ra].extend(members.pop(rb))
        for tid in members[ra]:
            root[tid] = ra
    nodes = [tuple(sorted(group, key=lambda t: _time_key(by_id[t]))) for group in members.values()]
    nodes.sort(key=lambda node: _time_key(by_id[node[0]]))
    return nodes, unmet


def crosses_cut(end_frame: int, start_frame: int, shot_cuts: Sequence[int]) -> bool:
    """Whether a cut lies between a tracklet ending at ``end_frame`` and one starting at ``start_frame``.

    Args:
        end_frame: Last frame of the earlier tracklet.
        start_frame: First frame of the later one.
        shot_cuts: First frames of the shots after each cut, ascending.
    """
    after = bisect.bisect_right(shot_cuts, end_frame)
    return after < len(shot_cuts) and shot_cuts[after] <= start_frame


def _candidate_pairs(
    nodes: list[tuple[int, ...]], by_id: dict[int, TrackletStats], config: GroupingConfig, *,
    shot_cuts: Sequence[int] = (), neighbours: Neighbours | None = None, apart: Collection[frozenset[int]] = (),
) -> list[tuple[int, int, PairCheck]]:  # fmt: skip
    """Checks from each node's last tracklet to every later node's first one near its end, in the same shot."""
    crowded = neighbours is not None and config.crowd_radius > 0
    window = config.max_temporal_gap
    head_starts = [by_id[node[0]].start_frame for node in nodes]
    candidates = []
    for u, node in enumerate(nodes):
        tail = by_id[node[-1]]
        low = bisect.bisect_left(head_starts, tail.end_frame - window)
        high = bisect.bisect_right(head_starts, tail.end_frame + window)
        for v in range(max(low, u + 1), high):
            head = by_id[nodes[v][0]]
            if not crosses_cut(tail.end_frame, head.start_frame, shot_cuts):
                check = run_checks(tail, head, config)
                if crowded and check.accepted:  # only a link the five checks accept needs it
                    check = crowd_check(check, tail, head, neighbours=neighbours, radius=config.crowd_radius,
                                        exclude=(*node, *nodes[v]), apart=apart)  # fmt: skip
                candidates.append((u, v, check))
    return candidates


def _match(count: int, edges: list[tuple[int, int, PairCheck]]) -> dict[int, tuple[int, PairCheck]]:
    """Maximum-weight one-to-one matching of predecessors to successors; returns u -> (v, check)."""
    if not edges:
        return {}
    rows = np.array([u for u, _, _ in edges])
    cols = np.array([v for _, v, _ in edges])
    # Bipartite graph on 2 * count vertices: u as predecessor, count + v as successor.
    graph = coo_matrix((np.ones(len(edges)), (rows, count + cols)), shape=(2 * count, 2 * count))
    _, labels = connected_components(graph, directed=False)
    by_component: dict[int, list[int]] = {}
    for index, u in enumerate(rows.tolist()):
        by_component.setdefault(int(labels[u]), []).append(index)
    links: dict[int, tuple[int, PairCheck]] = {}
    for indices in by_component.values():
        comp_rows = sorted({int(rows[i]) for i in indices})
        comp_cols = sorted({int(cols[i]) for i in indices})
        row_at = {u: i for i, u in enumerate(comp_rows)}
        col_at = {v: j for j, v in enumerate(comp_cols)}
        weights = np.zeros((len(comp_rows), len(comp_cols)))
        for i in indices:
            weights[row_at[int(rows[i])], col_at[int(cols[i])]] = 1.0 - edges[i][2].cost + 1e-9
        chosen_rows, chosen_cols = linear_sum_assignment(weights, maximize=True)
        lookup = {(int(rows[i]), int(cols[i])): edges[i][2] for i in indices}
        for r, c in zip(chosen_rows.tolist(), chosen_cols.tolist(), strict=True):
            key = (comp_rows[r], comp_cols[c])
            if key in lookup:
                links[key[0]] = (key[1], lookup[key])
    return links


def _chains(count: int, links: dict[int, tuple[int, PairCheck]]) -> list[list[int]]:
    has_predecessor = {v for v, _ in links.values()}
    chains = []
    for start in range(count):
        if start in has_predecessor:
            continue
        chain = [start]
        while chain[-1] in links:
            chain.append(links[chain[-1]][0])
        chains.append(chain)
    return chains


def _cannot_link_cuts(
    chains: list[list[int]],
    nodes: list[tuple[int, ...]],
    links: dict[int, tuple[int, PairCheck]],
    cannot: set[frozenset[int]],
) -> set[tuple[int, int]]:
    """For every cannot-link pair a chain joins, its costliest link between the two."""
    cuts: set[tuple[int, int]] = set()
    if not cannot:
        return cuts
    for chain in chains:
        for i in range(len(chain)):
            for j in range(i + 1, len(chain)):
                if any(frozenset((a, b)) in cannot for a in nodes[chain[i]] for b in nodes[chain[j]]):
                    path = [(chain[k], chain[k + 1]) for k in range(i, j)]
                    cuts.add(max(path, key=lambda link: (links[link[0]][1].cost, link)))
    return cuts
