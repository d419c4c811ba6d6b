"""Our Liar's dice actions -> OpenSpiel's liars_dice(players=2, numdice=3, dice_sides=6,
bidding_rule=reset-face): "roll=f" is chance outcome f - 1; bid "QxF" is (Q - 1) * 6 + (F - 1)
for Q in 1..6 (six dice in all); "liar" is 36, the number of bids."""

NUM_BIDS = 6 * 6


def to_openspiel(os_state, state, action: str) -> int:
    if action.startswith("roll="):
        return int(action[5:]) - 1
    if action == "liar":
        return NUM_BIDS
    quantity, face = (int(x) for x in action.split("x"))
    return (quantity - 1) * 6 + (face - 1)
