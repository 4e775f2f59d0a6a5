"""How the console shows tax rows (an invoice's or a credit note's `taxes`)."""

from django.utils.html import format_html, format_html_join


def tax_table(rows: list[dict]) -> str:
    """One table row per tax name, jurisdiction, rate and reason; "-" when there are none."""
    if not rows:
        return "-"
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}%</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                t["name"],
                t["jurisdiction"],
                t["rate"],
                t.get("reason", ""),
                t["taxable_amount"],
                t["amount"],
            )
            for t in rows
        ),
    )
    return format_html(
        "<table><thead><tr><th>Tax</th><th>Jurisdiction</th><th>Rate</th><th>Reason</th>"
        "<th>Taxable amount</th><th>Tax</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )
