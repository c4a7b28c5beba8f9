"""A local stand-in for Mindbody's Public API v6 `GET /public/v6/appointment/staffappointments`,
and for write-back, `GET /public/v6/client/clients` and `POST /public/v6/client/updateclient`.

It checks what the real API checks that we can check offline (the `Api-Key` and `SiteId`
headers, and the staff token when one is configured) and answers in the documented shape:
`{"PaginationResponse": {...}, "Appointments": [...]}`, or an error body
`{"Error": {"Message", "Code"}}` (the codes here are invented). Query names are matched
case-insensitively, with or without the `request.` prefix, since both appear in the wild.
`AppointmentIds`, `ClientId` and `StaffIds` filter, and so does the date window as the
real endpoint applies it: `StartDate` defaults to today and `EndDate` to `StartDate`, so a
request without them finds only today's appointments (by the date of `StartDateTime`).

The client calls need the staff token (write-back runs as a staff user). `updateclient`
takes `{"Client": {"Id", …}, "CrossRegionalUpdate"}`, changes only the fields given and
answers `{"Client": {...}}`; an unknown client id is 400 `InvalidClientId` (invented code).

`POST /sale/checkoutshoppingcart` sells pricing options (`Items[].Item` of `Type` Service
with `Metadata.Id`, a `pricing_options` id) to `ClientId`: the payments (`Type` Comp with
`Metadata.Amount`, or Custom with `Amount` and the custom payment method's `Id`) must add
up to the cart's total, else 400 (invented code); a sale is recorded in `sales` and the
client gets the pricing option in `client_services`. Answers
`{"ShoppingCart": {"Id", "CartItems", "SubTotal", "DiscountTotal", "TaxTotal", "GrandTotal"},
"Classes": [], "Appointments": []}`. `Test: true` validates without selling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from aiohttp import web

PATH = "/public/v6/appointment/staffappointments"
CLIENTS_PATH = "/public/v6/client/clients"
UPDATE_CLIENT_PATH = "/public/v6/client/updateclient"
CHECKOUT_PATH = "/public/v6/sale/checkoutshoppingcart"


@dataclass
class MindbodyFake:
    api_key: str = "test-api-key"
    site_id: str = "-99"
    staff_token: str | None = None
    appointments: list[dict[str, Any]] = field(default_factory=list)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)  # Id -> Client
    requests: list[dict[str, Any]] = field(default_factory=list)
    pricing_options: dict[int, dict[str, Any]] = field(default_factory=dict)  # Id -> option
    custom_payment_methods: set[int] = field(default_factory=set)
    sales: list[dict[str, Any]] = field(default_factory=list)
    client_services: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _failures: list[int] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    base_url: str = ""

    def add_appointment(self, appointment: dict[str, Any]) -> None:
        self.appointments.append(appointment)

    def add_client(self, client_id: str, notes: str | None = None) -> None:
        self.clients[client_id] = {"Id": client_id, "FirstName": "Test", "Notes": notes}

    def client_updates(self) -> list[dict[str, Any]]:
        """The bodies of the accepted updateclient calls, in order."""
        return [r["body"] for r in self.requests if r["path"] == UPDATE_CLIENT_PATH and r["ok"]]

    def fail_next(self, times: int, status: int = 500) -> None:
        """Answer the next `times` authenticated requests with this status."""
        self._failures.extend([status] * times)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(PATH, self._staff_appointments)
        app.router.add_get(CLIENTS_PATH, self._get_clients)
        app.router.add_post(CHECKOUT_PATH, self._checkout)
        app.router.add_post(UPDATE_CLIENT_PATH, self._update_client)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/public/v6"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"Error": {"Message": message, "Code": code}}, status=status)

    async def _staff_appointments(self, request: web.Request) -> web.Response:
        query = {
            key.lower().removeprefix("request."): value for key, value in request.query.items()
        }
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": query,
                "headers": {name.lower(): value for name, value in request.headers.items()},
            }
        )
        if request.headers.get("Api-Key") != self.api_key:
            return self._error(401, "DeniedAccess", "Invalid or missing API key.")
        if request.headers.get("SiteId") != self.site_id:
            return self._error(401, "DeniedAccess", "Invalid or missing SiteId.")
        if self.staff_token is not None and request.headers.get("Authorization") not in (
            self.staff_token,
            f"Bearer {self.staff_token}",
        ):
            return self._error(401, "DeniedAccess", "Invalid or missing staff token.")
        if self._failures:
            status = self._failures.pop(0)
            return self._error(status, "InternalError", f"Scripted failure {status}.")
        found = [a for a in self.appointments if _matches(a, query)]
        return web.json_response(
            {
                "PaginationResponse": {
                    "RequestedLimit": 100,
                    "RequestedOffset": 0,
                    "PageSize": len(found),
                    "TotalResults": len(found),
                },
                "Appointments": found,
            }
        )

    # --- write-back: clients --------------------------------------------------------

    def _record(self, request: web.Request, body: Any = None) -> dict[str, Any]:
        query = {k.lower().removeprefix("request."): v for k, v in request.query.items()}
        entry = {
            "method": request.method,
            "path": request.path,
            "query": query,
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "body": body,
            "ok": False,
        }
        self.requests.append(entry)
        return entry

    def _refusal(self, request: web.Request) -> web.Response | None:
        """Why a client call is refused: keys, site, staff token (always needed here)."""
        if request.headers.get("Api-Key") != self.api_key:
            return self._error(401, "DeniedAccess", "Invalid or missing API key.")
        if request.headers.get("SiteId") != self.site_id:
            return self._error(401, "DeniedAccess", "Invalid or missing SiteId.")
        token = request.headers.get("Authorization")
        if self.staff_token is None or token not in (
            self.staff_token,
            f"Bearer {self.staff_token}",
        ):
            return self._error(401, "DeniedAccess", "Invalid or missing staff token.")
        if self._failures:
            status = self._failures.pop(0)
            return self._error(status, "InternalError", f"Scripted failure {status}.")
        return None

    async def _get_clients(self, request: web.Request) -> web.Response:
        entry = self._record(request)
        if (refused := self._refusal(request)) is not None:
            return refused
        wanted = _ids(entry["query"].get("clientids")) or set()
        found = [client for client_id, client in self.clients.items() if client_id in wanted]
        entry["ok"] = True
        return web.json_response(
            {
                "PaginationResponse": {
                    "RequestedLimit": 100,
                    "RequestedOffset": 0,
                    "PageSize": len(found),
                    "TotalResults": len(found),
                },
                "Clients": found,
            }
        )

    async def _update_client(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        entry = self._record(request, body)
        if (refused := self._refusal(request)) is not None:
            return refused
        client = body.get("Client") if isinstance(body, dict) else None
        if not isinstance(client, dict) or not client.get("Id"):
            return self._error(400, "InvalidParameter", "Client.Id is required.")
        stored = self.clients.get(str(client["Id"]))
        if stored is None:
            return self._error(400, "InvalidClientId", f"Client {client['Id']} not found.")
        stored.update(client)
        entry["ok"] = True
        return web.json_response({"Client": stored})

    async def _checkout(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        entry = self._record(request, body)
        if (refused := self._refusal(request)) is not None:
            return refused
        if not isinstance(body, dict) or str(body.get("ClientId") or "") not in self.clients:
            return self._error(400, "InvalidClientId", "ClientId is not a client of this site.")
        total = 0.0
        lines = []
        for wrapper in body.get("Items") or []:
            item = wrapper.get("Item") if isinstance(wrapper, dict) else None
            meta = item.get("Metadata") if isinstance(item, dict) else None
            option = (
                self.pricing_options.get(int(meta.get("Id", 0)))
                if isinstance(meta, dict) and item.get("Type") == "Service"
                else None
            )
            if option is None:
                return self._error(400, "InvalidItem", "The cart item is not a pricing option.")
            quantity = int(wrapper.get("Quantity") or 1)
            total += float(option["Price"]) * quantity
            lines.append({"Item": option, "Quantity": quantity, "Id": len(lines) + 1})
        if not lines:
            return self._error(400, "InvalidItem", "The cart is empty.")
        paid = 0.0
        for payment in body.get("Payments") or []:
            meta = payment.get("Metadata") if isinstance(payment, dict) else {}
            kind = payment.get("Type") if isinstance(payment, dict) else None
            if kind == "Custom" and int(meta.get("Id", 0)) not in self.custom_payment_methods:
                return self._error(400, "InvalidPaymentInfo", "Unknown custom payment method.")
            if kind not in ("Comp", "Custom"):
                return self._error(400, "InvalidPaymentInfo", f"Payment type {kind} refused.")
            paid += float(meta.get("Amount", 0))
        if round(paid, 2) != round(total, 2):
            return self._error(
                400,
                "PaymentAmountMismatch",
                f"The payments ({paid:.2f}) do not cover the cart total ({total:.2f}).",
            )
        cart_id = str(body.get("CartId") or f"cart-{len(self.sales) + 1}")
        if not body.get("Test"):
            self.sales.append(body)
            for line in lines:
                self.client_services.setdefault(str(body["ClientId"]), []).append(line["Item"])
        entry["ok"] = True
        return web.json_response(
            {
                "ShoppingCart": {
                    "Id": cart_id,
                    "CartItems": lines,
                    "SubTotal": total,
                    "DiscountTotal": 0,
                    "TaxTotal": 0,
                    "GrandTotal": total,
                },
                "Classes": [],
                "Appointments": [],
            }
        )


def _ids(text: str | None) -> set[str] | None:
    return None if text is None else {part.strip() for part in text.split(",") if part.strip()}


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])  # a date or a date-time: the day counts


def _in_window(appointment: dict[str, Any], query: dict[str, str]) -> bool:
    start = _day(query["startdate"]) if query.get("startdate") else date.today()
    end = _day(query["enddate"]) if query.get("enddate") else start
    when = appointment.get("StartDateTime")
    return when is not None and start <= _day(str(when)) <= end


def _matches(appointment: dict[str, Any], query: dict[str, str]) -> bool:
    if not _in_window(appointment, query):
        return False
    for name, wire in (("appointmentids", "Id"), ("staffids", "StaffId"), ("clientid", "ClientId")):
        wanted = _ids(query.get(name))
        if wanted is not None and str(appointment.get(wire)) not in wanted:
            return False
    return True
