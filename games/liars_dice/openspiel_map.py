"""Our Liar's dice actions -> OpenSpiel's liars_dice(players=2, numdice=1, dice_sides=6,
bidding_rule=reset-face): "roll=f" is chance outcome f - 1; bid "QxF" is (Q - 1) * 6 + (F - 1);
"liar" is 12."""


def to_openspiel(os_state, state, action: str) -> int:
    if action.startswith("roll="):
        return int(action[5:]) - 1
    if action == "liar":
        return 12
    quantity, face = (int(x) for x in action.split("x"))
    return (quantity - 1) * 6 + (face - 1)
