"""Our negotiation -> OpenSpiel `negotiation` (enable_utterances=false).

OpenSpiel draws the whole deal (turn limit, item pool, both utility vectors) from its own
random generator in one opaque chance action, so the deal itself cannot be replayed action
by action. `load_game` therefore returns a thin driver: during our 10 enumerable deal steps
it stands at a chance node whose outcomes and probabilities are the documented deal
distribution (turns(k) -> k, pool(q) -> q, value(v) -> v); once the deal is complete it
builds the real OpenSpiel state with exactly that deal (`deserialize_state`) and forwards
everything (current player, legal actions, returns) to OpenSpiel.

After the deal: propose(a,b,c) is 36*a + 6*b + c, accept is 216.
"""

import math

import pyspiel

PARAMS = {"enable_utterances": False, "enable_proposals": True, "num_items": 3}
ACCEPT = 216


def _deal_distribution(step: int) -> list[tuple[int, float]]:
    if step == 0:  # Poisson(7) truncated to 4..10, as OpenSpiel's rejection sampler
        w = {k: math.exp(-7.0) * 7.0 ** k / math.factorial(k) for k in range(4, 11)}
        return [(k, x / sum(w.values())) for k, x in w.items()]
    if step <= 3:
        return [(q, 1 / 6) for q in range(6)]
    return [(v, 1 / 11) for v in range(11)]


class _DealThenOpenSpiel:
    def __init__(self, game):
        self.game = game
        self.deal: list[int] = []
        self.os_state = None

    def current_player(self) -> int:
        return self.os_state.current_player() if self.os_state else pyspiel.PlayerId.CHANCE

    def returns(self) -> list[float]:
        return self.os_state.returns() if self.os_state else [0.0, 0.0]

    def legal_actions(self) -> list[int]:
        if self.os_state:
            return self.os_state.legal_actions()
        return [a for a, _ in _deal_distribution(len(self.deal))]

    def chance_outcomes(self):
        return _deal_distribution(len(self.deal)) if not self.os_state else self.os_state.chance_outcomes()

    def action_to_string(self, player, action) -> str:
        return self.os_state.action_to_string(player, action) if self.os_state else f"deal {action}"

    def apply_action(self, action: int) -> None:
        if self.os_state:
            self.os_state.apply_action(action)
            return
        self.deal.append(action)
        if len(self.deal) == 10:
            k, pool, u0, u1 = self.deal[0], self.deal[1:4], self.deal[4:7], self.deal[7:10]
            text = "\n".join([str(k), " ".join(map(str, pool)), " ".join(map(str, u0)),
                              " ".join(map(str, u1)), "0"])
            self.os_state = self.game.deserialize_state(text)


class _Game:
    def __init__(self):
        self.game = pyspiel.load_game("negotiation", PARAMS)

    def new_initial_state(self):
        return _DealThenOpenSpiel(self.game)


def load_game():
    return _Game()


def to_openspiel(os_state, state, action: str) -> int:
    if action == "accept":
        return ACCEPT
    number = action[action.index("(") + 1:-1]
    if action.startswith("propose"):
        a, b, c = (int(x) for x in number.split(","))
        return 36 * a + 6 * b + c
    return int(number)
