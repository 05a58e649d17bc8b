from django.core.management.base import BaseCommand, CommandError

from trading.services import ledger_verify


class Command(BaseCommand):
    help = (
        "Check the play-money ledger: zero-sum transfers, cached balances and positions equal "
        "to the entries and trades, no gaps in trade sequences (docs/methods.md §15.6)."
    )

    def handle(self, *args: object, **options: object) -> None:
        problems = ledger_verify()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} ledger problem(s)")
        self.stdout.write("ledger OK")
