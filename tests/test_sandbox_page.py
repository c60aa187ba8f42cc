"""The sandbox page draws whatever a bot registers and sends, not Reelbot's commands: a small
discord.py bot written here declares /paint, answers with an embed, a button and a menu, and
opens a dialog; the page offers exactly what it declared, and a new option it registers later
shows up live. Same headless chromium as the gallery tests, loopback only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord
import pytest
from discord import app_commands

from bot.endpoints import point_at
from discordsim import DiscordSim
from discordsim.interactions import APPLICATION_COMMAND
from discordsim.sandbox import SandboxPage, seed
from tests.test_gallery_browser import CHROMIUM, CHROMIUM_ARGS

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e '.[dev]' installs playwright")
expect = playwright_api.expect
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "sandbox"
TOKEN = "sim-token-paint"


class Brush(discord.ui.Modal, title="Pick a brush"):
    stroke = discord.ui.TextInput(label="Stroke", default="wide", max_length=40)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"Painted with a {self.stroke.value} stroke")


class Canvas(discord.ui.View):
    def __init__(self):
        super().__init__(timeout=None)

    @discord.ui.button(label="Brush", emoji="🖌", style=discord.ButtonStyle.primary, custom_id="paint:brush")
    async def brush(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(Brush())

    @discord.ui.select(custom_id="paint:frame", placeholder="A frame",
                       options=[discord.SelectOption(label="Gold", value="gold"),
                                discord.SelectOption(label="Oak", value="oak")])
    async def frame(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"Framed in {select.values[0]}", ephemeral=True)


async def pin_it(interaction: discord.Interaction, message: discord.Message) -> None:
    """A message command: the page offers it in a message's Apps menu."""
    await interaction.response.send_message(f"Pinned: {message.content}", ephemeral=True)


def paint_command(with_brush: bool) -> app_commands.Command:
    """/paint as the bot first declares it, or (with_brush) with one more option."""
    async def paint(interaction: discord.Interaction, colour: str, size: app_commands.Range[int, 1, 10],
                    picture: discord.Attachment | None = None, brush: str | None = None) -> None:
        embed = discord.Embed(title=f"A {colour} painting", description=f"size **{size}**")
        await interaction.response.send_message(f"<@{interaction.user.id}> painted", embed=embed, view=Canvas())

    async def first_paint(interaction: discord.Interaction, colour: str, size: app_commands.Range[int, 1, 10],
                          picture: discord.Attachment | None = None) -> None:
        await paint(interaction, colour, size, picture)

    async def brushes(interaction: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=b, value=b) for b in ("thin", "thick", "wide") if b.startswith(typed)]

    colours = app_commands.choices(colour=[app_commands.Choice(name="Red", value="red"),
                                           app_commands.Choice(name="Blue", value="blue")])
    if with_brush:
        return app_commands.Command(name="paint", description="Paint something",
                                    callback=app_commands.autocomplete(brush=brushes)(colours(paint)))
    return app_commands.Command(name="paint", description="Paint something", callback=colours(first_paint))


@pytest.fixture(scope="module")
async def world():
    sim = DiscordSim(token=TOKEN)
    guild = seed(sim, "Paint club", ("general",))
    page = SandboxPage(sim, guild, title="Paint sandbox")
    await sim.start()
    point_at(sim.api_base, sim.gateway_url)
    intents = discord.Intents.none()
    intents.guilds = True
    client = discord.Client(intents=intents)
    tree = app_commands.CommandTree(client)
    tree.add_command(paint_command(with_brush=False))
    tree.add_command(app_commands.ContextMenu(name="Pin it", callback=pin_it))
    runner = asyncio.create_task(client.start(TOKEN))
    await sim.wait_connected()
    await tree.sync()
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1200, "height": 800})
        offsite = []

        async def only_loopback(route):
            if route.request.url.startswith(sim.base_url + "/"):
                await route.continue_()
            else:
                offsite.append(route.request.url)
                await route.abort()

        await context.route("**/*", only_loopback)
        tab = await context.new_page()
        errors = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        await tab.goto(page.url)
        yield sim, tree, tab
        assert offsite == [] and errors == []
        await context.close()
        await browser.close()
    await client.close()
    runner.cancel()
    await sim.stop()
    point_at(None, None)
    assert sim.violations == []


async def test_the_page_offers_what_the_bot_declared_and_what_it_adds_later(world):
    sim, tree, tab = world
    box = tab.locator("#input")
    await box.click()
    await box.press_sequentially("/pa")
    await expect(tab.locator("#suggestions li[role=option] .name")).to_have_text(["/paint"])
    await expect(tab.locator("#suggestions li[role=option] .desc")).to_have_text(["Paint something"])
    await box.press("Enter")  # picks the suggestion
    await expect(box).to_have_value("/paint ")
    colour = tab.locator("#options select[name=colour] option")
    await expect(colour).to_have_text(["— choose —", "Red", "Blue"])
    size = tab.locator("#options input[name=size]")
    assert (await size.get_attribute("min"), await size.get_attribute("max")) == ("1", "10")
    await expect(tab.locator("#options input[type=file][name=picture]")).to_have_count(1)
    await expect(tab.locator("#options [name=brush]")).to_have_count(0)

    # The bot registers a new option: the open page offers it without a reload.
    tree.remove_command("paint")
    tree.add_command(paint_command(with_brush=True))
    await tree.sync()
    brush = tab.locator("#options input[name=brush]")
    await expect(brush).to_have_count(1)
    await brush.press_sequentially("th")  # the bot's autocomplete answers what was typed
    suggestions = tab.locator("#options .choices button")
    await expect(suggestions).to_have_text(["thin", "thick"])
    await suggestions.first.dispatch_event("mousedown")
    await expect(brush).to_have_value("thin")


async def test_commands_buttons_menus_and_dialogs_of_any_bot(world):
    sim, tree, tab = world
    box = tab.locator("#input")
    await box.fill("")
    await box.press_sequentially("/paint ")
    await tab.locator("#options input[name=size]").fill("11")
    await tab.locator("#options select[name=colour]").select_option("blue")
    await box.press("Enter")  # the client refuses out-of-range values, as Discord's does
    await expect(tab.locator("#composer-error")).to_contain_text("size must be at most 10")
    assert [ix for ix in sim.interactions if ix.type == APPLICATION_COMMAND] == []  # nothing was sent
    await tab.locator("#options input[name=size]").fill("3")
    await box.press("Enter")
    answer = tab.locator("#messages li.msg").last
    await expect(answer.locator(".embed-title")).to_have_text("A blue painting")
    await expect(answer.locator(".used")).to_have_text("alice used /paint")
    await expect(answer.locator(".mention")).to_have_text("@alice")

    await answer.locator("button.btn", has_text="Brush").click()
    dialog = tab.locator("dialog#modal")
    await expect(dialog.locator("h2")).to_have_text("Pick a brush")
    stroke = dialog.locator("input").first
    await expect(stroke).to_have_value("wide")
    await stroke.fill("thin")
    await dialog.locator("#modal-submit").click()
    await expect(answer.locator(".content")).to_contain_text("Painted with a thin stroke")
    await expect(answer.locator(".edited")).to_have_count(1)

    await tab.locator("#messages li.msg").last.locator("select").select_option("oak")
    private = tab.locator("#messages li.msg.ephemeral").last
    await expect(private).to_contain_text("Framed in oak")
    await expect(private).to_contain_text("Only you can see this")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await tab.screenshot(path=ARTIFACTS / "any-bot.png")


async def test_a_message_command_from_the_apps_menu(world):
    sim, tree, tab = world
    painted = tab.locator("#messages li.msg", has_text="Painted with").last
    await painted.hover()
    await painted.locator(".msg-menu button", has_text="Apps").click()
    await tab.locator(".apps button", has_text="Pin it").click()
    private = tab.locator("#messages li.msg.ephemeral", has_text="Pinned:")
    await expect(private).to_contain_text("Pinned: Painted with a thin stroke")
    await expect(private.locator(".used")).to_have_text("alice used Pin it")


async def test_the_page_adds_a_server_and_switches_between_servers(world):
    sim, tree, tab = world
    first = next(iter(sim.guilds.values()))
    await expect(tab.locator("#server option")).to_have_text(["Paint club"])
    await tab.locator("#add-server").click()
    await expect(tab.locator("#server option")).to_have_text(["Paint club", "Server 2"])
    await expect(tab.locator("#guild-name")).to_have_text("Server 2")  # it opened the new one
    second = next(g for g in sim.guilds.values() if g.name == "Server 2")
    assert {m.name for m in second.members.values() if not m.user.bot} == {"alice", "mod", "admin"}
    assert {m.id for m in second.members.values()} == {m.id for m in first.members.values()}  # the same people
    await expect(tab.locator("#messages li.msg")).to_have_count(0)  # its own #general, empty

    box = tab.locator("#input")
    await box.fill("")
    await box.press_sequentially("/paint ")
    await tab.locator("#options input[name=size]").fill("2")
    await tab.locator("#options select[name=colour]").select_option("red")
    await box.press("Enter")
    await expect(tab.locator("#messages li.msg").last.locator(".embed-title")).to_have_text("A red painting")
    [general2] = [c for c in second.channels.values() if c.name == "general"]
    [painted] = [m for m in sim.messages(general2) if m.embeds]
    assert painted.guild_id == second.id and painted.embeds[0]["title"] == "A red painting"

    await tab.locator("#server").select_option(str(first.id))  # back: the first server's messages
    await expect(tab.locator("#guild-name")).to_have_text("Paint club")
    await expect(tab.locator("#messages li.msg .embed-title").first).to_have_text("A blue painting")
    await expect(tab.locator("#messages li.msg", has_text="A red painting")).to_have_count(0)
