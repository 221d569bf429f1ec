from registervard.cli import app

app(prog_name="registervard")
