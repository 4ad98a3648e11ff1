package org.livyserver.repl

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper}
import com.fasterxml.jackson.databind.node.{ArrayNode, JsonNodeFactory, ObjectNode}

/**
 * JSON helpers on Jackson's tree model. Jackson ships with every Spark release, so the driver
 * needs nothing that is not already on the application's class path.
 */
object Json {
  val mapper = new ObjectMapper()
  private val nodes = JsonNodeFactory.instance

  def obj(fields: (String, Any)*): ObjectNode = {
    val o = nodes.objectNode()
    fields.foreach { case (k, v) => o.set[JsonNode](k, value(v)) }
    o
  }

  def arr(items: Iterable[Any]): ArrayNode = {
    val a = nodes.arrayNode()
    items.foreach(v => a.add(value(v)))
    a
  }

  def parse(text: String): JsonNode = mapper.readTree(text)

  /** One line of the wire protocol: compact JSON, no raw newlines. */
  def write(node: JsonNode): String = mapper.writeValueAsString(node)

  /** Plain Scala/Java values to JSON; anything unknown becomes its toString. */
  def value(v: Any): JsonNode = v match {
    case null | None => nodes.nullNode()
    case Some(x) => value(x)
    case n: JsonNode => n
    case s: String => nodes.textNode(s)
    case b: Boolean => nodes.booleanNode(b)
    case i: Int => nodes.numberNode(i)
    case l: Long => nodes.numberNode(l)
    case s: Short => nodes.numberNode(s)
    case b: Byte => nodes.numberNode(b)
    // JSON has no NaN or Infinity: send those as strings rather than break the line.
    case d: Double => if (d.isNaN || d.isInfinite) nodes.textNode(d.toString) else nodes.numberNode(d)
    case f: Float => if (f.isNaN || f.isInfinite) nodes.textNode(f.toString) else nodes.numberNode(f)
    case d: java.math.BigDecimal => nodes.numberNode(d)
    case d: BigDecimal => nodes.numberNode(d.bigDecimal)
    case i: java.math.BigInteger => nodes.numberNode(i)
    case i: BigInt => nodes.numberNode(i.bigInteger)
    case bytes: Array[Byte] => arr(bytes.toSeq.map(_.toInt))
    case m: scala.collection.Map[_, _] =>
      val o = nodes.objectNode()
      m.foreach { case (k, x) => o.set[JsonNode](String.valueOf(k), value(x)) }
      o
    case m: java.util.Map[_, _] =>
      val o = nodes.objectNode()
      m.forEach((k, x) => o.set[JsonNode](String.valueOf(k), value(x)))
      o
    case a: Array[_] => arr(a.toSeq)
    case it: Iterable[_] => arr(it)
    case it: java.lang.Iterable[_] =>
      val a = nodes.arrayNode()
      it.forEach(x => a.add(value(x)))
      a
    case other => nodes.textNode(other.toString)
  }

  def text(node: JsonNode, field: String): Option[String] =
    Option(node.get(field)).filter(n => !n.isNull).map(_.asText())

  def long(node: JsonNode, field: String): Option[Long] =
    Option(node.get(field)).filter(_.canConvertToLong).map(_.asLong())
}
