"""One cog per feature (discord.py's cogs), each with its command, buttons and dialogs;
bot/client.py adds them all. Kept empty so a feature module imports without the others."""
