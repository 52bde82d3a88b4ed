"""python manage.py compute_endpoints --input DIR --output DIR [--as-of YYYY-MM-DD]"""

import datetime

from django.core.management.base import BaseCommand, CommandError

from analysis.inputs import InputError, read_inputs
from analysis.transfer import (
    OUTPUT_FILES,
    compute_endpoints,
    default_as_of,
    not_yet_reached,
    summary_line,
    write_outputs,
)

# The contract's exit status for refused input (ENDPOINTS.md section 5).
BAD_INPUT = 2


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"--as-of {text!r} is not a date YYYY-MM-DD", returncode=BAD_INPUT) from error


class Command(BaseCommand):
    help = "Compute the diary endpoints from transfer files (ENDPOINTS.md). Nothing is written on bad input."

    def add_arguments(self, parser):
        parser.add_argument("--input", required=True, help="folder with participants.csv, diary.csv, visits.csv")
        parser.add_argument("--output", required=True, help="folder for the output files (created)")
        parser.add_argument("--as-of", dest="as_of", type=str, default=None,
                            help="data cut-off: values and visits after it are ignored, time points not yet "
                                 "reached have N = 0 (default: the latest DIARY_DATE)")  # fmt: skip

    def handle(self, *args, input, output, as_of, **options):
        as_of = _date(as_of) if as_of else None
        try:
            inputs = read_inputs(input)
        except InputError as error:
            for problem in error.problems:
                self.stderr.write(problem)
            raise CommandError(f"input refused: {len(error.problems)} problem(s), nothing written",
                               returncode=BAD_INPUT) from error  # fmt: skip
        as_of = as_of or default_as_of(inputs)
        outputs = compute_endpoints(inputs, as_of=as_of)
        write_outputs(outputs, output)
        self.stdout.write("compute_endpoints: " + summary_line(
            outputs, files=len(OUTPUT_FILES), directory=output, as_of=as_of,
            not_reached=not_yet_reached(inputs, as_of)))
