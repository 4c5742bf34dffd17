"""A shopping cart over a small product catalogue with stock: add, remove, view, check out."""

from __future__ import annotations

from typing import Any

from synthpipe.tools.environments.base import Environment, ToolError, tool

#: product -> (unit price, stock)
CATALOGUE: dict[str, tuple[float, int]] = {
    "notebook": (3.5, 40), "pen": (1.25, 100), "pencil": (0.8, 120), "stapler": (7.9, 12),
    "backpack": (34.0, 6), "water bottle": (12.5, 15), "desk lamp": (24.99, 8),
    "usb cable": (6.49, 25), "headphones": (49.0, 5), "mug": (8.0, 20),
    "sticky notes": (2.75, 60), "calculator": (15.0, 10),
}  # fmt: skip


def _money(value: float) -> float:
    return round(value + 1e-9, 2)


class Cart(Environment):
    name = "cart"
    stateful = True

    def default_state(self) -> dict[str, Any]:
        catalogue = {name: {"price": p, "stock": s} for name, (p, s) in CATALOGUE.items()}
        return {"catalogue": catalogue, "cart": {}, "orders": []}

    def _product(self, product: str) -> dict[str, Any]:
        key = " ".join(product.lower().split())
        if key not in self.data["catalogue"]:
            raise ToolError(f"no product {product!r}; see list_products")
        return self.data["catalogue"][key]

    @tool
    def list_products(self) -> dict[str, Any]:
        """The products on sale with their unit price and stock."""
        return {"products": [{"product": k, **v} for k, v in self.data["catalogue"].items()]}

    @tool
    def add_item(self, product: str, quantity: int = 1) -> dict[str, Any]:
        """Put a quantity of a product in the cart (no more than is in stock).

        Args:
            product: the product's name, e.g. "notebook"
            quantity: how many, at least 1
        """
        item = self._product(product)
        key = " ".join(product.lower().split())
        if quantity < 1:
            raise ToolError("quantity must be at least 1")
        wanted = self.data["cart"].get(key, 0) + quantity
        if wanted > item["stock"]:
            raise ToolError(f"only {item['stock']} {key} in stock, {wanted} requested")
        self.data["cart"][key] = wanted
        return {"product": key, "quantity_in_cart": wanted}

    @tool
    def remove_item(self, product: str, quantity: int | None = None) -> dict[str, Any]:
        """Take a product out of the cart: `quantity` of it, or all of it when omitted.

        Args:
            product: the product's name
            quantity: how many to remove; omit to remove the product entirely
        """
        key = " ".join(product.lower().split())
        held = self.data["cart"].get(key, 0)
        if not held:
            raise ToolError(f"{product!r} is not in the cart")
        if quantity is not None and not 1 <= quantity <= held:
            raise ToolError(f"can remove 1 to {held} {key}, not {quantity}")
        left = 0 if quantity is None else held - quantity
        if left:
            self.data["cart"][key] = left
        else:
            del self.data["cart"][key]
        return {"product": key, "quantity_in_cart": left}

    @tool
    def view_cart(self) -> dict[str, Any]:
        """The cart's items with their prices, and the total."""
        return self._summary()

    def _summary(self) -> dict[str, Any]:
        items = [
            {
                "product": key,
                "quantity": qty,
                "unit_price": self.data["catalogue"][key]["price"],
                "subtotal": _money(qty * self.data["catalogue"][key]["price"]),
            }
            for key, qty in sorted(self.data["cart"].items())
        ]
        return {"items": items, "total": _money(sum(i["subtotal"] for i in items))}

    @tool
    def checkout(self) -> dict[str, Any]:
        """Buy what is in the cart: the stock goes down and the cart is emptied."""
        if not self.data["cart"]:
            raise ToolError("the cart is empty")
        order = {"order_id": f"order-{len(self.data['orders']) + 1}", **self._summary()}
        for key, qty in self.data["cart"].items():
            self.data["catalogue"][key]["stock"] -= qty
        self.data["orders"].append(order)
        self.data["cart"] = {}
        return order
