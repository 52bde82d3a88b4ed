from django.core.management.base import BaseCommand

from diaries.demo import load_demo


class Command(BaseCommand):
    help = "Load the TRUE-AD demo study with a few demo participants and an admin user (idempotent)."

    def handle(self, *args, **options):
        load_demo(stdout=self.stdout)
