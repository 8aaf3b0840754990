from homelab.cli.main import main

main()
