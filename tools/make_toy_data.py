"""Generate the embedded synthetic dataset (COCO instances + label maps).

    python tools/make_toy_data.py [data/toy] [--num-train 400] [--seed 0]

Nothing happens when the dataset is already there with the same settings.
"""
import argparse
import time

from swin_mm.datasets import ToySpec, generate_toy_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', nargs='?', default='data/toy')
    parser.add_argument('--num-train', type=int, default=ToySpec.num_train)
    parser.add_argument('--num-val', type=int, default=ToySpec.num_val)
    parser.add_argument('--size', type=int, default=ToySpec.size)
    parser.add_argument('--seed', type=int, default=ToySpec.seed)
    args = parser.parse_args()
    spec = ToySpec(
        num_train=args.num_train,
        num_val=args.num_val,
        size=args.size,
        seed=args.seed)
    start = time.perf_counter()
    if generate_toy_dataset(args.root, spec):
        print(f'Toy dataset written to {args.root}: {spec.num_train} train / '
              f'{spec.num_val} val images of {spec.size}x{spec.size} '
              f'({time.perf_counter() - start:.1f} s)')
    else:
        print(f'Toy dataset already in {args.root} ({spec})')


if __name__ == '__main__':
    main()
