"""``genorm explain``: the textbook RNN's forward pass and back-propagation, step by step."""

from __future__ import annotations

import argparse

from genorm.cli.common import Formatter, positive_int, seed


def add_explain(sub) -> None:
    p = sub.add_parser(
        "explain", formatter_class=Formatter,
        help="step through the textbook RNN (forward pass, back-propagation) on a short text",
        description="Print the forward pass of the textbook recurrent network step by step (input vector, "
                    "W_xh x_t, W_hh h_(t-1) + b, new state, output, softmax, loss), then the gradients of one "
                    "back-propagation-through-time step. genorm's simple_rnn model is this network "
                    "(tests/test_textbook_rnn.py proves it).\n\nexamples:\n  genorm explain hello --example\n"
                    "  genorm explain ACGTTA --seed 1",
    )
    p.add_argument("text", help="a short text: DNA (A C G T N) or any letters, e.g. hello")
    p.add_argument("--example", action="store_true",
                   help="use the network of the classic 'hello' worked example (vocabulary h, e, l, o; its W_xh, "
                        "W_hy, W_hh = 0.427043·I, b_h = 0.567001)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the random weights (without --example)")
    p.add_argument("--hidden", type=positive_int, default=3, help="hidden units")
    p.add_argument("--learning-rate", type=float, default=0.1, help="step size of the gradient-descent update shown")
    p.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from genorm.textbook_rnn import explain

    for line in explain(args.text, hidden_size=args.hidden, seed=args.seed, example=args.example,
                        learning_rate=args.learning_rate):
        print(line)
    return 0
